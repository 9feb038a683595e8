//! Black-box tests of the HTTP API against real MongoDB and Redis (see `scripts/test`), with a
//! local stand-in for OpenWeatherMap serving recorded answers.

mod budget;
mod cache;
mod errors;
mod health;
mod helpers;
mod list;
mod logs;
mod metrics;
mod openapi;
mod purge;
mod rate_limit;
mod redis_outage;
mod refusals;
mod rejected;
mod replicas;
mod request_ids;
mod secrets;
mod stale;
mod stats;
mod upstream_errors;
mod weather;
