//! weatherlog: current weather with a five-minute Redis cache, and a weather log in MongoDB.
//!
//! Code tour, in the order the commit history builds it:
//! 1. [`domain`]: the validated input types and our weather schema.
//! 2. [`configuration`]: the settings, read from the environment.
//! 3. [`telemetry`]: logs and request spans.
//! 4. [`openweather`]: the upstream client, mapping its wire format into [`domain::Weather`].
//! 5. [`cache`] and [`lookup`]: the Redis cache and the cache-aside lookup.
//! 6. [`storage`]: the MongoDB log store (connect, indexes, CRUD), its stored documents, and
//!    its query shapes (filters, cursor pages, the stats pipeline).
//! 7. [`startup`]: connecting the stores, the shared state, the route table.
//! 8. [`error`]: one error type, rendered as problem+json.
//! 9. [`routes`]: one module per resource, with the error responses and examples they share
//!    for the API document (`routes::responses`, `routes::examples`).
//! 10. [`healthcheck`]: the container health check command.
//! 11. [`openapi`]: assembles the OpenAPI document from the routes and types (nothing below
//!     it imports it), and serves it with Swagger UI.

pub mod cache;
pub mod configuration;
pub mod domain;
pub mod error;
pub mod healthcheck;
pub mod lookup;
pub mod openapi;
pub mod openweather;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod telemetry;
