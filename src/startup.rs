//! Start-up: connects the stores, builds the shared state once, binds the listener and holds
//! the route table.

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, Service};
use actix_web::middleware::{Compress, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::cache::WeatherCache;
use crate::configuration::Settings;
use crate::error::{self, ApiError};
use crate::lookup::WeatherLookup;
use crate::middleware::rate_limit::{self, RateLimiting};
use crate::middleware::request_telemetry::{RouteLabels, request_telemetry};
use crate::openapi;
use crate::openweather::OpenWeatherClient;
use crate::prometheus;
use crate::rate_limit::RequestLimiter;
use crate::routes;
use crate::routes::admin::AdminToken;
use crate::shared_redis::SharedRedis;
use crate::storage::LogStore;
use crate::upstream_guard::CallBudget;

/// Largest request body we read: 64 KiB (a log is far smaller).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a stopping server lets in-flight requests finish. Shorter than the 30 s that
/// `docker compose stop` waits before it kills the container.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not connect to MongoDB: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("invalid REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("could not build the OpenWeatherMap client: {0}")]
    Upstream(#[from] crate::openweather::UpstreamError),
    #[error("could not listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects to MongoDB (waiting for it up to `MONGODB_STARTUP_TIMEOUT_SECONDS`), prepares
    /// the Redis cache and the upstream client, and binds `HOST:PORT` (port 0 picks a free one).
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        // First, so that what the parts below record at start-up is kept.
        let metrics = prometheus::install();
        let store = LogStore::connect(
            &settings.mongodb_uri,
            &settings.mongodb_database,
            Duration::from_secs(settings.mongodb_startup_timeout_seconds),
        )
        .await?;
        let redis = SharedRedis::new(settings.redis_url.expose(), &settings.redis_key_prefix)?;
        let budget = CallBudget::new(
            redis.clone(),
            settings.upstream_calls_per_minute,
            settings.upstream_calls_per_day,
        );
        let rate_limiting = RateLimiting::new(
            RequestLimiter::new(redis.clone(), settings.rate_limit_per_minute),
            settings.trusted_proxies.clone(),
        );
        let cache = WeatherCache::new(redis);
        let client = OpenWeatherClient::new(
            &settings.openweather_base_url,
            settings.openweather_api_key.clone(),
            settings.openweather_timeout(),
        )?;
        if settings.trusted_proxies.trusts_everyone() {
            tracing::warn!(
                "TRUSTED_PROXIES trusts every address: any client can choose whose rate limit it uses"
            );
        }
        if settings.openweather_api_key.is_none() {
            tracing::warn!("OPENWEATHER_API_KEY is not set: weather calls will answer 503");
        }
        let lookup = WeatherLookup::new(
            client,
            cache,
            budget,
            settings.openweather_timeout(),
            (
                settings.cache_ttl(),
                settings.stale_if_error(),
                settings.not_found_ttl(),
            ),
        );

        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?
            .port();
        let admin_token = AdminToken(settings.admin_token.clone());
        let server = run(
            listener,
            (store, lookup, admin_token),
            (rate_limiting, metrics),
            settings.request_timeout(),
        )?;
        Ok(Self { port, server })
    }

    /// The port actually bound (useful when `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Builds the HTTP server over shared state; each worker thread clones the `Data` handles.
fn run(
    listener: TcpListener,
    (store, lookup, admin_token): (LogStore, WeatherLookup, AdminToken),
    (rate_limiting, metrics): (RateLimiting, PrometheusHandle),
    request_timeout: Duration,
) -> Result<Server, StartupError> {
    let store = web::Data::new(store);
    let lookup = web::Data::new(lookup);
    let admin_token = web::Data::new(admin_token);
    let metrics = web::Data::new(metrics);
    let rate_limiting = Arc::new(rate_limiting);
    let server = HttpServer::new(move || {
        let route_labels = Rc::new(RouteLabels::new(endpoints().iter().map(|e| e.path)));
        let rate_limiting = rate_limiting.clone();
        App::new()
            // Innermost, right before the routes, so a refused request reaches no handler, and
            // every answer of a route (an error included) gets the RateLimit fields. Inside the
            // timeout, so a slow Redis cannot hold a request past it either.
            .wrap(from_fn(move |request, next| {
                rate_limit::limit(rate_limiting.clone(), request, next)
            }))
            // Inside the logger and the problem+json fallback, so its 408 passes through them.
            // actix-web times out slow headers, not slow bodies: without this a client sending
            // its body a byte at a time would hold a connection (and its memory) forever.
            .wrap_fn(move |request, service| {
                let call = service.call(request);
                async move {
                    match tokio::time::timeout(request_timeout, call).await {
                        Ok(result) => result,
                        Err(_) => Err(ApiError::RequestTimeout(request_timeout).into()),
                    }
                }
            })
            .wrap(ErrorHandlers::new().default_handler(error::ensure_problem_json))
            .wrap(from_fn(move |request, next| {
                request_telemetry(route_labels.clone(), request, next)
            }))
            // Outside the telemetry, which reads problem bodies before they are compressed.
            // gzip only when the client asks (`Accept-Encoding: gzip`); a weather answer shrinks
            // to about a third.
            .wrap(Compress::default())
            .app_data(store.clone())
            .app_data(lookup.clone())
            .app_data(admin_token.clone())
            .app_data(metrics.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(error::json_error),
            )
            .app_data(web::PayloadConfig::default().limit(MAX_BODY_BYTES))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .configure(routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::no_route())
            }))
    })
    .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs())
    .listen(listener)
    .map_err(|source| StartupError::Bind {
        address: "listener".into(),
        source,
    })?
    .run();
    Ok(server)
}

/// The route table: every resource module's endpoints and the API document's, one resource
/// per path with a 405 and `Allow` for the methods it lacks (`routes::register`), plus Swagger
/// UI at `/docs`, which shows the document and is not part of it.
pub fn routes(cfg: &mut web::ServiceConfig) {
    routes::register(cfg, endpoints());
    openapi::configure(cfg);
}

/// Every endpoint of the API. Each is in the API document (`crate::openapi::ApiDoc`), which
/// `tests/api/openapi.rs` checks against this list and against the running app.
pub fn endpoints() -> Vec<routes::Endpoint> {
    let mut endpoints = routes::endpoints();
    endpoints.extend(openapi::endpoints());
    endpoints
}
