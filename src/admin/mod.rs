//! Admin surfaces: the REST API ([`rest`]) and the health probes ([`health`]).

pub mod graphql;
pub mod health;
pub mod rest;
