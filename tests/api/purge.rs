//! `DELETE /api/v1/cache`: an operator deletes this service's cached answers, and only those,
//! with the admin token.

use redis::AsyncCommands;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, recorded, spawn_app, spawn_app_with};

const ADMIN_TOKEN: &str = "an-admin-token-for-tests-0123456789";

async fn purge(app: &TestApp, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .http
        .delete(format!("{}/api/v1/cache{query}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the request is sent")
}

async fn app_with_admin_token() -> TestApp {
    let app = spawn_app_with(|settings| settings.admin_token = Some(ADMIN_TOKEN.into())).await;
    app.upstream_always(recorded("current/warsaw_pl_heavy_rain.json"))
        .await;
    app
}

#[tokio::test]
async fn without_an_admin_token_configured_the_purge_is_off() {
    let app = spawn_app().await;

    let problem = assert_problem(purge(&app, "", Some(ADMIN_TOKEN)).await, 403).await;

    assert_eq!(problem["type"], "/problems/admin-disabled");
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_with_a_bearer_challenge() {
    let app = app_with_admin_token().await;
    app.get_weather("Warsaw").await;

    for token in [None, Some("not-the-admin-token-at-all"), Some("")] {
        let response = purge(&app, "", token).await;
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer",
            "{token:?}"
        );
        let problem = assert_problem(response, 401).await;
        assert_eq!(problem["type"], "/problems/unauthorized");
    }
    // Nothing was deleted.
    assert_eq!(app.get_weather("Warsaw").await.headers()["x-cache"], "HIT");
}

#[tokio::test]
async fn a_purge_deletes_only_the_answers_of_this_service() {
    let app = app_with_admin_token().await;
    for path in [
        "/api/v1/weather?city=Warsaw",
        "/api/v1/weather?city=Warsaw&lang=pl",
        "/api/v1/weather?city=Melbourne",
    ] {
        assert_eq!(app.get(path).await.status(), 200);
    }
    let mut redis = app.redis().await;
    let prefix = &app.settings.redis_key_prefix;
    // Another application's key, one of another deployment whose prefix starts with ours, a
    // place whose name holds a colon, a fetch lock, and the call budget: none is Warsaw's.
    let foreign = format!("other-app-{prefix}:v1:weather:city:warsaw:en");
    let _: () = redis.set(&foreign, "theirs").await.unwrap();
    let survivors = [
        format!("{prefix}:eu:v1:weather:city:warsaw:en"),
        format!("{prefix}:v1:weather:city:warsaw:x:en"),
        format!("{prefix}:v1:lock:{prefix}:v1:weather:city:warsaw:en"),
    ];
    for key in &survivors {
        let _: () = redis.set(key, "keep").await.unwrap();
    }
    // The day's counter: the minute's may expire at a minute boundary during the test.
    let budget: Vec<String> = redis
        .keys(format!("{prefix}:v1:budget:day:*"))
        .await
        .unwrap();
    assert!(!budget.is_empty());

    let one_place = purge(&app, "?city=warsaw", Some(ADMIN_TOKEN)).await;
    assert_eq!(one_place.status(), 200);
    let body: Value = one_place.json().await.unwrap();
    assert_eq!(body["deleted"], 2, "Warsaw in both languages");
    assert_eq!(
        app.get_weather("Melbourne").await.headers()["x-cache"],
        "HIT"
    );

    for key in &survivors {
        let kept: Option<String> = redis.get(key).await.unwrap();
        assert_eq!(kept.as_deref(), Some("keep"), "{key}");
    }
    let _: () = redis.del(&survivors[0]).await.unwrap();
    let _: () = redis.del(&survivors[2]).await.unwrap();

    // All: Melbourne, and the place with a colon in its name, which is ours too.
    let all: Value = purge(&app, "", Some(ADMIN_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["deleted"], 2);

    let theirs: Option<String> = redis.get(&foreign).await.unwrap();
    assert_eq!(theirs.as_deref(), Some("theirs"));
    let _: () = redis.del(&foreign).await.unwrap();
    let budget_left: Vec<String> = redis
        .keys(format!("{prefix}:v1:budget:day:*"))
        .await
        .unwrap();
    assert_eq!(budget_left, budget, "the call budget survives a purge");
    assert_eq!(app.get_weather("Warsaw").await.headers()["x-cache"], "MISS");
}

#[tokio::test]
async fn a_purge_with_a_bad_place_is_refused_and_deletes_nothing() {
    let app = app_with_admin_token().await;
    app.get_weather("Warsaw").await;

    for query in ["?lat=91&lon=0", "?city=a,b,c,d", "?lat=1", "?colour=red"] {
        assert_problem(purge(&app, query, Some(ADMIN_TOKEN)).await, 400).await;
    }

    assert_eq!(app.get_weather("Warsaw").await.headers()["x-cache"], "HIT");
}
