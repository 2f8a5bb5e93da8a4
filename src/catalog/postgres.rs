//! stub: replaced by the postgres backend.
use crate::catalog::Catalog;
use crate::secret::Cipher;

/// Opens the catalog and applies migrations.
pub async fn connect(_url: &str, _max: u32, _cipher: Cipher) -> anyhow::Result<Catalog> {
    anyhow::bail!("the postgres catalog is not built yet")
}
