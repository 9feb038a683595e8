//! weatherlog: current weather with a five-minute Redis cache, and a weather log in MongoDB.
//!
//! Code tour, in the order the commit history builds it:
//! 1. [`domain`]: the validated input types and our weather schema.
//! 2. [`configuration`]: the settings, read from the environment.
//! 3. [`telemetry`]: logs and request spans.
//! 4. [`openweather`]: the upstream client, mapping its wire format into [`domain::Weather`].
//! 5. [`cache`] and [`lookup`]: the Redis cache and the cache-aside lookup.
//! 6. [`storage`]: the MongoDB log store, its indexes, pagination and stats.

pub mod cache;
pub mod configuration;
pub mod domain;
pub mod lookup;
pub mod openweather;
pub mod storage;
pub mod telemetry;
