//! weatherlog: current weather with a five-minute Redis cache, and a weather log in MongoDB.
//!
//! Code tour, from the values inward to the app that wires them:
//! 1. [`domain`]: the validated types: a `Place` (and its `cache_key`), `Units`, `Language`, our
//!    `Weather` schema, and the weather log's entries (ids, notes, tags, a new log, a change).
//! 2. [`configuration`]: the settings, read from the environment.
//! 3. [`telemetry`]: the log output, text or JSON; each request's id and span come from
//!    [`middleware`], what runs around every request.
//! 4. [`openweather`]: the upstream client; `OpenWeatherClient::fetch_current` always calls
//!    OpenWeatherMap and maps its wire format into [`domain::Weather`].
//! 5. [`shared_redis`], [`cache`], [`fetch_lock`] and [`lookup`]: the one Redis connection, the
//!    answer cache in it, the lock that lets one replica fetch for all, and
//!    `WeatherLookup::look_up`, which answers from memory or Redis and fetches only on a miss,
//!    once per place however many ask (cache-aside with single-flight), stale when upstream
//!    fails. [`upstream_guard`], [`upstream_pause`] and [`upstream_health`] guard that one call:
//!    the shared call budget, the pause after a refusal, and the record readiness shows.
//!    [`rate_limit`] counts each client's requests (a sliding minute in Redis, shared by every
//!    replica, with a local limiter while Redis is down).
//! 6. [`storage`]: the MongoDB log store (connect, indexes, the cursor signing key, CRUD), its
//!    stored documents, and its query shapes (filters, signed cursor pages, the stats pipeline).
//! 7. [`error`]: one error type and the table of problem kinds, rendered as problem+json.
//!    [`prometheus`]: every metric's name, and the recorder that `GET /metrics` renders.
//! 8. [`routes`]: one module per resource, each listing its endpoints; `routes::register` turns
//!    the lists into resources, with the 405 and its `Allow` header. Extractors and `TryFrom`
//!    conversions hand the handlers valid domain values. Beside them, the error responses and
//!    examples the API document shows (`routes::responses`, `routes::examples`). Around them,
//!    [`middleware`]: the rate limit in HTTP (who the client is, the 429, the RateLimit fields).
//! 9. [`openapi`]: assembles the OpenAPI document from the routes and types (only `startup`
//!    imports it), and serves it with Swagger UI.
//! 10. [`startup`]: connects the stores, builds the shared state once, and registers every
//!     module's endpoints.
//! 11. [`healthcheck`]: the container health check command.
//!
//! Each module either speaks HTTP (`routes`, `middleware`, `openapi`, `error`, `startup`) or
//! talks to one store or upstream (`shared_redis`, `cache`, `fetch_lock`, the `upstream_*`
//! guards, `rate_limit`, `storage`, `openweather`); `lookup` joins the cache and the upstream
//! and knows no HTTP.

pub mod cache;
pub mod configuration;
pub mod domain;
pub mod error;
pub mod fetch_lock;
pub mod healthcheck;
pub mod lookup;
pub mod middleware;
pub mod openapi;
pub mod openweather;
pub mod prometheus;
pub mod rate_limit;
pub mod routes;
pub mod shared_redis;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod upstream_guard;
pub mod upstream_health;
pub mod upstream_pause;
