//! Who may use the API: the caller itself, API tokens, accounts, and the audit log.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch};
use opensmev_core::auth::{AccountRequest, Action, TokenRequest};
use opensmev_store::{Account, AuditQuery, TokenRecord};
use opensmev_types::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::body::json_body;
use crate::extract::{Path, Query};
use crate::{
    ApiState, Authenticated, Problem, Unauthenticated, json, mnemonic, next_cursor, page_cursor,
    page_limit, parse_optional_time, rfc3339,
};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/me", get(me))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/accounts", get(list_accounts).post(create_account))
        .route("/accounts/{login}", patch(update_account))
        .route("/audit", get(audit))
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Me {
    /// `admin`, `operator`, `auditor` or `is`.
    role: String,
    /// For `is`: the information system.
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    /// How the caller is named in journals and the audit log.
    actor: String,
    /// The token presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<String>,
}

/// Who the token is.
#[utoipa::path(get, path = "/api/v1/me", tag = "access",
    responses(
        (status = 200, description = "The caller", body = Me),
        Unauthenticated,
    ))]
pub(crate) async fn me(auth: Authenticated) -> Response {
    let p = auth.0;
    json(
        StatusCode::OK,
        &Me {
            role: p.role.code().into(),
            system: p.system.map(|m| m.to_string()),
            actor: p.actor,
            token_id: p.token_id,
        },
    )
}

/// A token as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenOut {
    /// Its id (`tok_…`).
    id: String,
    /// Its label.
    name: String,
    /// Its role.
    role: String,
    /// For `is`: the system.
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    /// The account it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    /// Who made it.
    created_by: String,
    /// When (RFC 3339).
    created_at: String,
    /// Expiry (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// Revocation (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
}

fn token_out(t: TokenRecord) -> TokenOut {
    TokenOut {
        id: t.id,
        name: t.name,
        role: t.role.code().into(),
        system: t.system.map(|m| m.to_string()),
        account: t.account,
        created_by: t.created_by,
        created_at: rfc3339(t.created_at),
        expires_at: t.expires_at.map(rfc3339),
        revoked_at: t.revoked_at.map(rfc3339),
    }
}

/// Every token (admin).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access",
    responses(
        (status = 200, description = "The tokens, oldest first", body = Vec<TokenOut>),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_tokens(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ManageAccess)?;
    let tokens = state.bus.store().tokens().await?;
    Ok(json(
        StatusCode::OK,
        &tokens.into_iter().map(token_out).collect::<Vec<_>>(),
    ))
}

/// A token to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    /// A label (1–200 characters).
    name: String,
    /// `admin`, `operator`, `auditor` or `is`.
    role: String,
    /// For `is`: the information system (its mnemonic).
    #[serde(default)]
    system: Option<String>,
    /// The account it belongs to (same role and system).
    #[serde(default)]
    account: Option<String>,
    /// Expiry (RFC 3339).
    #[serde(default)]
    expires_at: Option<String>,
}

/// A token just made: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IssuedTokenOut {
    /// The token.
    #[serde(flatten)]
    token: TokenOut,
    /// The secret to present as `Authorization: Bearer <secret>`. Not stored: keep it now.
    secret: String,
}

fn role(text: &str) -> Result<Role, Problem> {
    Role::from_code(text).ok_or_else(|| {
        Problem::invalid_field(
            "role",
            format!("«{text}» is not one of admin, operator, auditor, is"),
        )
    })
}

/// Makes a token (admin). The answer holds its secret, shown only this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access",
    request_body(content = NewToken, content_type = "application/json"),
    responses(
        (status = 201, description = "Made", body = IssuedTokenOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_token(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ManageAccess)?;
    let given: NewToken = json_body(&state, &headers, body).await?;
    let request = TokenRequest {
        name: given.name,
        role: role(&given.role)?,
        system: mnemonic("system", given.system)?,
        account: given.account,
        expires_at: parse_optional_time("expires_at", given.expires_at.as_deref())?,
    };
    let issued = state.bus.issue_token(&auth.0.actor, request).await?;
    Ok(json(
        StatusCode::CREATED,
        &IssuedTokenOut {
            token: token_out(issued.record),
            secret: issued.secret,
        },
    ))
}

/// Revokes a token (admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "access",
    params(("id" = String, Path, description = "The token id (tok_…)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed path", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token, or revoked already", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn revoke_token(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ManageAccess)?;
    state.bus.revoke_token(&auth.0.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An account as listed (never its password).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountOut {
    /// Login.
    login: String,
    /// Name.
    name: String,
    /// Role.
    role: String,
    /// For `is`: the system.
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    /// Whether it can log in with a password.
    has_password: bool,
    /// The password is a one-time one.
    must_change_password: bool,
    /// Disabled (its tokens are refused too).
    disabled: bool,
    /// When it was made (RFC 3339).
    created_at: String,
}

fn account_out(a: Account) -> AccountOut {
    AccountOut {
        login: a.login,
        name: a.name,
        role: a.role.code().into(),
        system: a.system.map(|m| m.to_string()),
        has_password: a.password_hash.is_some(),
        must_change_password: a.must_change_password,
        disabled: a.disabled,
        created_at: rfc3339(a.created_at),
    }
}

/// Every account (admin).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "access",
    responses(
        (status = 200, description = "The accounts, by login", body = Vec<AccountOut>),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_accounts(
    State(state): State<ApiState>,
    auth: Authenticated,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ManageAccess)?;
    let accounts = state.bus.store().accounts().await?;
    Ok(json(
        StatusCode::OK,
        &accounts.into_iter().map(account_out).collect::<Vec<_>>(),
    ))
}

/// An account to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccount {
    /// Login: 1–64 of A–Z a–z 0–9 . _ - @.
    login: String,
    /// The person's name.
    name: String,
    /// `admin`, `operator`, `auditor` or `is`.
    role: String,
    /// For `is`: the system.
    #[serde(default)]
    system: Option<String>,
    /// A password (at least 12 characters); absent: the bus makes a one-time one.
    #[serde(default)]
    password: Option<String>,
}

/// An account just made.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedAccount {
    /// The account.
    #[serde(flatten)]
    account: AccountOut,
    /// The one-time password the bus made (shown only now), when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    one_time_password: Option<String>,
}

/// Makes an account (admin).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "access",
    request_body(content = NewAccount, content_type = "application/json"),
    responses(
        (status = 201, description = "Made", body = CreatedAccount),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The login is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_account(
    State(state): State<ApiState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ManageAccess)?;
    let given: NewAccount = json_body(&state, &headers, body).await?;
    let request = AccountRequest {
        login: given.login,
        name: given.name,
        role: role(&given.role)?,
        system: mnemonic("system", given.system)?,
        password: given.password,
    };
    let (account, one_time_password) = state.bus.create_account(&auth.0.actor, request).await?;
    Ok(json(
        StatusCode::CREATED,
        &CreatedAccount {
            account: account_out(account),
            one_time_password,
        },
    ))
}

/// A change of an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountChange {
    /// Disable (true) or enable (false).
    #[serde(default)]
    disabled: Option<bool>,
    /// A new password (at least 12 characters).
    #[serde(default)]
    password: Option<String>,
}

/// Changes an account (admin): disable or enable it, set a password.
#[utoipa::path(patch, path = "/api/v1/accounts/{login}", tag = "access",
    params(("login" = String, Path, description = "The login")),
    request_body(content = AccountChange, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed", body = AccountOut),
        (status = 400, description = "Malformed JSON or path", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn update_account(
    State(state): State<ApiState>,
    auth: Authenticated,
    Path(login): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ManageAccess)?;
    let given: AccountChange = json_body(&state, &headers, body).await?;
    let account = state
        .bus
        .update_account(&auth.0.actor, &login, given.disabled, given.password)
        .await?;
    Ok(json(StatusCode::OK, &account_out(account)))
}

/// Which audit entries to read; newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Only this actor.
    #[serde(default)]
    actor: Option<String>,
    /// Only actions starting with this (`registry.`, `token.`, `account.`).
    #[serde(default)]
    action: Option<String>,
    /// At or after (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Before (RFC 3339).
    #[serde(default)]
    to: Option<String>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// An audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditOut {
    /// Its number (increasing).
    seq: i64,
    /// When (RFC 3339).
    at: String,
    /// Who.
    actor: String,
    /// What (`registry.change`, `token.create`, …).
    action: String,
    /// To what.
    target: String,
    /// The change, readable (for the registry: a diff).
    detail: String,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    /// Entries, newest first.
    items: Vec<AuditOut>,
    /// Give as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// The audit log of administrative changes (admin, auditor).
#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(AuditParams),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "Unknown or malformed parameter", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn audit(
    State(state): State<ApiState>,
    auth: Authenticated,
    Query(q): Query<AuditParams>,
) -> Result<Response, Problem> {
    auth.may(&state, Action::ReadAudit)?;
    let limit = page_limit(q.limit)?;
    let query = AuditQuery {
        before: page_cursor(q.cursor)?,
        actor: q.actor,
        action_prefix: q.action,
        from: parse_optional_time("from", q.from.as_deref())?,
        to: parse_optional_time("to", q.to.as_deref())?,
        limit: limit + 1,
    };
    let mut found = state.bus.store().audit(query).await?;
    let next_cursor = next_cursor(&mut found, limit, |e| e.seq);
    Ok(json(
        StatusCode::OK,
        &AuditPage {
            items: found
                .into_iter()
                .map(|e| AuditOut {
                    seq: e.seq,
                    at: rfc3339(e.entry.at),
                    actor: e.entry.actor,
                    action: e.entry.action,
                    target: e.entry.target,
                    detail: e.entry.detail,
                })
                .collect(),
            next_cursor,
        },
    ))
}
