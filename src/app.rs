//! stub
/// The application.
pub struct Application;
