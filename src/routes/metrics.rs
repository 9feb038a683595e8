//! The metrics for Prometheus to scrape: `GET /metrics`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;

use super::Endpoint;

/// Metrics, in the Prometheus text format.
const METRICS: &str = "/metrics";
/// The content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The routes of this resource.
pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::GET, METRICS, metrics)]
}

/// Every metric of this process (`crate::prometheus` lists them), in the Prometheus text format
/// 0.0.4. Counters count since the process started; each replica has its own, and Prometheus
/// adds them up. Not rate limited, so a scraper is never refused.
#[utoipa::path(
    get,
    path = METRICS,
    operation_id = "metrics",
    tag = "health",
    summary = "Metrics for Prometheus",
    responses(
        (status = 200, description = "The metrics, one sample per line, with `# HELP` and \
            `# TYPE` for each family.", content_type = "text/plain; version=0.0.4; charset=utf-8",
            body = String,
            example = "# TYPE weatherlog_cache_lookups_total counter\nweatherlog_cache_lookups_total{result=\"memory_hit\"} 42\n"),
    )
)]
pub async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(PROMETHEUS_TEXT)
        .body(handle.render())
}
