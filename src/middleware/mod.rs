//! Middleware: what runs around every request, before and after its handler, in HTTP terms.
//! Each one asks a module that knows no HTTP for its decisions (`crate::rate_limit` for the
//! rate limit, `crate::prometheus` for the metrics).

pub mod rate_limit;
pub mod request_telemetry;
