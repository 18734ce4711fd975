//! HTTP for the dashboard and the gateway's `/health`: hyper (HTTP/1.1) on a current-thread
//! tokio runtime. `server` adds the connection limits a small service needs against clients
//! that connect and say nothing; `client` is the bounded `GET` the dashboard probes gateways
//! with.

pub mod client;
pub mod server;

/// Every response body here is small and complete when the handler returns.
pub type Body = http_body_util::Full<bytes::Bytes>;
