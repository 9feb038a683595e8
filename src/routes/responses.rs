//! The error responses the routes share, declared once for the API document (its
//! `components.responses`), and `nullable` for optional body fields.
//!
//! They live beside the routes that name them, so a route never imports the module that
//! assembles the document (`crate::openapi`).

use utoipa::ToResponse;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use super::examples;
use crate::error::Problem;

/// Adds `null` to the types a schema accepts: for optional body fields, where `null` counts as
/// left out.
pub fn nullable(schema: ObjectBuilder) -> Object {
    let mut object = schema.build();
    object.schema_type = match object.schema_type {
        SchemaType::Type(kind) => SchemaType::from_iter([kind, Type::Null]),
        SchemaType::Array(mut kinds) => {
            kinds.push(Type::Null);
            SchemaType::Array(kinds)
        }
        SchemaType::AnyValue => SchemaType::AnyValue,
    };
    object
}

/// 400: bad input.
#[derive(ToResponse)]
#[response(
    description = "Bad input: malformed JSON, an unknown field or parameter, a value out of \
        range, a malformed id. Nothing was changed.",
    content_type = "application/problem+json",
    examples(
        ("unknown field" = (value = json!(examples::problem(400, "bad-request",
            "the JSON body is not valid: unknown field `temperature`, expected `note` or `tags` at line 1 column 14")))),
        ("out of range" = (value = json!(examples::problem(400, "bad-request",
            "limit must be between 1 and 100")))),
        ("malformed id" = (value = json!(examples::problem(400, "bad-request",
            "a log id is 24 hexadecimal digits")))),
    )
)]
pub struct BadRequest(pub Problem);

/// 404: OpenWeatherMap does not know the place.
#[derive(ToResponse)]
#[response(
    description = "OpenWeatherMap does not know this place (remembered for a minute).",
    content_type = "application/problem+json",
    example = json!(examples::problem(404, "place-not-found", "OpenWeatherMap does not know this place"))
)]
pub struct PlaceNotFound(pub Problem);

/// 404: no log has the id.
#[derive(ToResponse)]
#[response(
    description = "No log has this id.",
    content_type = "application/problem+json",
    example = json!(examples::problem(404, "not-found", "no log has the id 6b0d3e3965fd0591c5b06a8f"))
)]
pub struct LogNotFound(pub Problem);

/// 413: the body is over 64 KiB.
#[derive(ToResponse)]
#[response(
    description = "The request body is larger than 64 KiB.",
    content_type = "application/problem+json",
    example = json!(examples::problem(413, "payload-too-large", "the request body is larger than 65536 bytes"))
)]
pub struct PayloadTooLarge(pub Problem);

/// 415: the body is not JSON.
#[derive(ToResponse)]
#[response(
    description = "The request body is not `application/json`.",
    content_type = "application/problem+json",
    example = json!(examples::problem(415, "unsupported-media-type",
        "the request body must be JSON (Content-Type: application/json)"))
)]
pub struct UnsupportedMediaType(pub Problem);

/// 502: OpenWeatherMap refused the key or failed.
#[derive(ToResponse)]
#[response(
    description = "OpenWeatherMap rejected the configured API key (then no call goes out for a \
        minute, on any replica), or failed.",
    content_type = "application/problem+json",
    examples(
        ("key rejected" = (value = json!(examples::problem(502, "upstream-key-rejected",
            "OpenWeatherMap rejected the configured API key (a new key can take a while to start working)")))),
        ("upstream failed" = (value = json!(examples::problem(502, "upstream-failed",
            "OpenWeatherMap answered with an error; try again shortly")))),
    )
)]
pub struct BadGateway(pub Problem);

/// 503 on weather lookups: no key, OpenWeatherMap's rate limit, or our call budget.
#[derive(ToResponse)]
#[response(
    description = "No OpenWeatherMap API key is configured, OpenWeatherMap's rate limit was \
        reached (then no call goes out, on any replica, until its `Retry-After` has passed), or \
        this service's own budget of upstream calls (`UPSTREAM_CALLS_PER_MINUTE`, \
        `UPSTREAM_CALLS_PER_DAY`) is used up; then `Retry-After` says when to try again. When \
        the cache holds an older answer, that comes back instead, marked stale.",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait, when a rate limit or the budget was reached.")),
    examples(
        ("no API key" = (value = json!(examples::problem(503, "no-api-key",
            "no OpenWeatherMap API key is configured (set OPENWEATHER_API_KEY)")))),
        ("rate limited" = (value = json!(examples::problem(503, "upstream-rate-limited",
            "OpenWeatherMap's rate limit was reached")))),
        ("budget exhausted" = (value = json!(examples::problem(503, "upstream-budget-exhausted",
            "the budget of calls to OpenWeatherMap is used up for now")))),
    )
)]
pub struct WeatherUnavailable(pub Problem);

/// 503 on log reads and writes: MongoDB is unavailable.
#[derive(ToResponse)]
#[response(
    description = "MongoDB is unavailable.",
    content_type = "application/problem+json",
    example = json!(examples::problem(503, "storage-unavailable", "storage is unavailable; try again shortly"))
)]
pub struct StorageUnavailable(pub Problem);

/// 503 on log creation: either of the above.
#[derive(ToResponse)]
#[response(
    description = "No OpenWeatherMap API key is configured, OpenWeatherMap's rate limit was \
        reached or this service's budget of upstream calls is used up (then `Retry-After` says \
        when to try again), or MongoDB is unavailable.",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait, when a rate limit or the budget was reached.")),
    examples(
        ("no API key" = (value = json!(examples::problem(503, "no-api-key",
            "no OpenWeatherMap API key is configured (set OPENWEATHER_API_KEY)")))),
        ("rate limited" = (value = json!(examples::problem(503, "upstream-rate-limited",
            "OpenWeatherMap's rate limit was reached")))),
        ("budget exhausted" = (value = json!(examples::problem(503, "upstream-budget-exhausted",
            "the budget of calls to OpenWeatherMap is used up for now")))),
        ("storage unavailable" = (value = json!(examples::problem(503, "storage-unavailable",
            "storage is unavailable; try again shortly")))),
    )
)]
pub struct ServiceUnavailable(pub Problem);

/// 504: OpenWeatherMap did not answer in time.
#[derive(ToResponse)]
#[response(
    description = "OpenWeatherMap did not answer within `OPENWEATHER_TIMEOUT_MS`.",
    content_type = "application/problem+json",
    example = json!(examples::problem(504, "upstream-timeout", "OpenWeatherMap did not answer within 5s"))
)]
pub struct GatewayTimeout(pub Problem);

/// 408 on any route: the request took longer than `REQUEST_TIMEOUT_SECONDS`.
#[derive(ToResponse)]
#[response(
    description = "The request (its body, or the work it asked for) took longer than \
        `REQUEST_TIMEOUT_SECONDS`. A write that had already reached MongoDB may have been \
        stored: list the logs before you retry a `POST`.",
    content_type = "application/problem+json",
    example = json!(examples::problem(408, "request-timeout", "the request took longer than 30s"))
)]
pub struct RequestTimeout(pub Problem);

/// 500 on any route: a failure the service did not foresee.
#[derive(ToResponse)]
#[response(
    description = "The service failed in a way it did not foresee; the cause is in its log.",
    content_type = "application/problem+json",
    example = json!(examples::problem(500, "internal", "the service failed to handle this request"))
)]
pub struct Internal(pub Problem);

/// 401 on admin routes: no or a wrong bearer token.
#[derive(ToResponse)]
#[response(
    description = "No `Authorization: Bearer <ADMIN_TOKEN>` header, or a wrong token.",
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`: the scheme to authenticate with.")),
    example = json!(examples::problem(401, "unauthorized",
        "this route needs `Authorization: Bearer <ADMIN_TOKEN>`"))
)]
pub struct Unauthorized(pub Problem);

/// 403 on admin routes: `ADMIN_TOKEN` is not set.
#[derive(ToResponse)]
#[response(
    description = "The admin routes are off: `ADMIN_TOKEN` is not set.",
    content_type = "application/problem+json",
    example = json!(examples::problem(403, "admin-disabled",
        "admin endpoints are disabled (set ADMIN_TOKEN to enable them)"))
)]
pub struct AdminDisabled(pub Problem);

/// 503 on admin routes that need Redis.
#[derive(ToResponse)]
#[response(
    description = "Redis did not answer; some keys may already be deleted.",
    content_type = "application/problem+json",
    example = json!(examples::problem(503, "cache-unavailable", "the cache is unavailable; try again shortly"))
)]
pub struct CacheUnavailable(pub Problem);

/// 429 on every route but the health probes: the client is over `RATE_LIMIT_PER_MINUTE`.
#[derive(ToResponse)]
#[response(
    description = "This client (its IPv4 address, or its IPv6 /64) made more requests in the \
        last minute than `RATE_LIMIT_PER_MINUTE` allows, counted over every replica. The request \
        was not handled: nothing changed. `Retry-After` (equal to the `t` of `RateLimit`) says \
        when a request will be allowed again.",
    content_type = "application/problem+json",
    headers(
        ("Retry-After" = u64, description = "Seconds until a request is allowed again."),
        ("RateLimit-Policy" = String, description = "The quota: `\"default\";q=<requests>;w=60` \
            (draft-ietf-httpapi-ratelimit-headers)."),
        ("RateLimit" = String, description = "What is left: `\"default\";r=0;t=<seconds>`."),
    ),
    example = json!(examples::problem(429, "rate-limited",
        "more than 300 requests a minute from this client; try again in 12 s"))
)]
pub struct TooManyRequests(pub Problem);
