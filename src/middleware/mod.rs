//! Middleware: what runs around every request, before and after its handler.

pub mod request_telemetry;
