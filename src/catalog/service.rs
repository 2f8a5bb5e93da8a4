//! stub
/// Catalog rules.
pub struct CatalogService;
