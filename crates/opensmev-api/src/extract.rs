//! Extractors of the API whose refusals are problem documents: axum's own `Query` and `Path`
//! answer their rejections as `text/plain`, which the OpenAPI document does not describe.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::Problem;

/// The query parameters (`axum::extract::Query`); an unknown parameter or a value of the wrong
/// type is a 400 problem (`api.bad-query`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(e) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "api.bad-query",
                "Неверные параметры запроса / Invalid query parameters",
                e.body_text(),
            )),
        }
    }
}

/// The path parameters (`axum::extract::Path`); a segment that cannot be read (percent-encoded
/// bytes that are not UTF-8) is a 400 problem (`api.bad-path`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            // A route whose handler does not fit its path is a defect of this crate: axum
            // answers it as 500, and so does this.
            Err(e) if e.status().is_server_error() => {
                tracing::error!(error = %e.body_text(), "path parameters do not fit the route");
                Err(Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api.internal",
                    "Внутренняя ошибка СМЭВ / Internal failure",
                    "the reason is in the server's log",
                ))
            }
            Err(e) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "api.bad-path",
                "Неверный путь запроса / Invalid request path",
                e.body_text(),
            )),
        }
    }
}

/// The answer to a method a path does not take (axum adds the `Allow` header).
pub(crate) async fn method_not_allowed(method: Method) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "api.method-not-allowed",
        "Метод не поддерживается / Method not allowed",
        format!("{method} is not allowed here: the Allow header names the methods that are"),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::{Request, header};
    use axum::response::IntoResponse;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        #[allow(dead_code)]
        limit: Option<u32>,
    }

    fn parts(uri: &str) -> Parts {
        Request::builder().uri(uri).body(()).unwrap().into_parts().0
    }

    async fn refusal(uri: &str) -> axum::response::Response {
        Query::<Params>::from_request_parts(&mut parts(uri), &())
            .await
            .expect_err("refused")
            .into_response()
    }

    #[tokio::test]
    async fn query_refusals_are_problems() {
        for uri in ["/x?limit=ten", "/x?unknown=1", "/x?limit=-1"] {
            let response = refusal(uri).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                crate::problem::PROBLEM_JSON,
                "{uri}"
            );
        }
        let Query(p) = Query::<Params>::from_request_parts(&mut parts("/x?limit=5"), &())
            .await
            .unwrap();
        assert_eq!(p.limit, Some(5));
    }

    #[tokio::test]
    async fn method_not_allowed_is_a_problem() {
        let response = method_not_allowed(Method::TRACE).await.into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            crate::problem::PROBLEM_JSON
        );
    }
}
