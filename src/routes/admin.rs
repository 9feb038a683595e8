//! The guard of the admin routes: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant
//! time. Without `ADMIN_TOKEN` the admin routes are off (403); without the right token they
//! answer 401 with `WWW-Authenticate: Bearer`. The token is never logged or shown.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The configured `ADMIN_TOKEN`, shared with the handlers as app data.
pub struct AdminToken(pub Option<SecretString>);

/// Proof that a request carried the admin token: take it as a handler's first argument, so
/// nothing else about the request is looked at before the caller is known.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(request))
    }
}

fn authorize(request: &HttpRequest) -> Result<Admin, ApiError> {
    let expected = request
        .app_data::<web::Data<AdminToken>>()
        .and_then(|token| token.0.as_ref())
        .ok_or(ApiError::AdminDisabled)?;
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::Unauthorized)?;
    // `ct_eq` takes as long whatever bytes differ, so the time of an answer tells nothing of
    // the token (only whether the lengths differ).
    let matches: bool = given
        .as_bytes()
        .ct_eq(expected.expose_secret().as_bytes())
        .into();
    if matches {
        Ok(Admin)
    } else {
        Err(ApiError::Unauthorized)
    }
}
