//! HTTP handlers, one module per resource. Each module lists its routes ([`Endpoint`]s, each
//! path written once, as a constant its `#[utoipa::path]` shares) and [`register`] turns the
//! lists into resources. Each handler gets valid domain types from its extractors (or from one
//! `TryFrom` of its body or query), calls the lookup or the store, and shapes the JSON answer.

pub mod admin;
pub mod cache;
pub mod examples;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod responses;
pub mod stats;
pub mod weather;

use std::fmt;
use std::marker::PhantomData;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, Handler, Responder, ResponseError, Route, web};

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use utoipa::IntoParams;

use crate::domain::{Language, Units};
use crate::error::ApiError;

/// One route of the API: a method on a path, and the handler that answers it.
pub struct Endpoint {
    pub method: Method,
    /// The path pattern, as in the API document (`/api/v1/logs/{id}`).
    pub path: &'static str,
    route: Route,
}

impl Endpoint {
    /// `handler` answers `method` requests to `path`.
    pub fn new<F, Args>(method: Method, path: &'static str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        Endpoint {
            route: web::method(method.clone()).to(handler),
            method,
            path,
        }
    }
}

/// The endpoints of every resource module.
pub fn endpoints() -> Vec<Endpoint> {
    [
        health::endpoints(),
        weather::endpoints(),
        logs::endpoints(),
        stats::endpoints(),
        cache::endpoints(),
        metrics::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Registers one resource per path of `endpoints`. A method the path lacks answers 405 (as
/// problem+json) with an `Allow` header listing the ones it has (RFC 9110 requires it), derived
/// from the same list, so it cannot drift from the routes.
pub fn register(cfg: &mut web::ServiceConfig, endpoints: Vec<Endpoint>) {
    let mut paths: Vec<(&'static str, Vec<Endpoint>)> = Vec::new();
    for endpoint in endpoints {
        match paths.iter_mut().find(|(path, _)| *path == endpoint.path) {
            Some((_, group)) => group.push(endpoint),
            None => paths.push((endpoint.path, vec![endpoint])),
        }
    }
    for (path, group) in paths {
        let allow: Vec<&str> = group.iter().map(|e| e.method.as_str()).collect();
        let allow = HeaderValue::from_str(&allow.join(", ")).expect("method names are ASCII");
        let resource = group
            .into_iter()
            .fold(web::resource(path), |resource, e| resource.route(e.route))
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move {
                    let mut response = ApiError::MethodNotAllowed.error_response();
                    response.headers_mut().insert(header::ALLOW, allow);
                    response
                }
            }));
        cfg.service(resource);
    }
}

/// The output options most routes share: `units` (default `metric`) and `lang` (default `en`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutputQuery {
    /// Unit system of the answer: `metric` (°C, m/s), `imperial` (°F, mph) or `standard` (K, m/s).
    #[serde(default)]
    #[param(default = json!("metric"))]
    pub units: Units,
    /// Language of the condition descriptions (`en`, `de`, `pt_br`, …).
    #[serde(default)]
    #[param(value_type = Option<Language>)]
    pub lang: Language,
}

/// A JSON request body that must be an object.
///
/// serde's derived `Deserialize` for a struct also takes an array of its fields in order, so
/// `[null, null]` read as `{"note": null, "tags": null}` and cleared a log's note (found by
/// scripts/fuzz). This asks for a map only and hands it to `T`, so `T`'s own errors, with their
/// line and column, stay as they were.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectOnly(PhantomData))
            .map(JsonObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::logs::LogPatchRequest;

    #[test]
    fn a_body_must_be_an_object_not_an_array_of_fields() {
        let array = serde_json::from_str::<JsonObject<LogPatchRequest>>("[null, null]");
        assert!(
            array
                .unwrap_err()
                .to_string()
                .contains("expected a JSON object")
        );
        let object = serde_json::from_str::<JsonObject<LogPatchRequest>>(r#"{"note": null}"#);
        assert_eq!(object.unwrap().0.note, Some(None));
    }

    #[test]
    fn field_errors_keep_their_position() {
        let err = serde_json::from_str::<JsonObject<LogPatchRequest>>(r#"{"temperature": 30}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown field `temperature`, expected `note` or `tags` at line 1 column 14"
        );
    }
}
