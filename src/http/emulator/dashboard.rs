//! The dashboard at `/_emulator/ui` and the small JSON views it polls: a summary with an `ETag`
//! (so an open page costs a 304 most of the time), job lists, job outcomes and device pages.
//! Everything here only reads.
//!
//! Size: ~670 lines, one file on purpose: the page's five views share one set of wire shapes and
//! the summary cache, and each view is only a query over them; split by view, every file would
//! import the same dozen types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::ids::{CustomerId, TenantId, TrackingId};
use crate::domain::job::{JobStatus, Outcome};
use crate::domain::timestamp::Timestamp;
use crate::http::AppState;
use crate::http::error::{ApiError, Result};
use crate::http::respond::json_response;
use crate::store::{DeviceRow, JobKind, JobSummary, Store};

/// The page: HTML, CSS and script in one file, embedded so the binary serves it offline.
const PAGE: &str = include_str!("ui.html");

/// Where the page's `<script>` and `<style>` carry the nonce of each answer.
const NONCE_MARK: &str = "CSP-NONCE";

/// `GET /_emulator/ui`: the dashboard. Its own script and style run under a fresh nonce, and
/// nothing else does: the journal shows whatever integrations sent, so even markup that slipped
/// into the page could not run. It may talk to its own origin only.
pub async fn page() -> Response {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         img-src data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; \
         base-uri 'none'"
    );
    let Ok(csp) = HeaderValue::from_str(&csp) else {
        return ApiError::internal().into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE.replace(NONCE_MARK, &nonce),
    )
        .into_response()
}

/// The summary's last validator (what it was computed from, until when it holds, and its tag),
/// and the last walk of the registry, which only registry changes and the clock invalidate: a
/// journal entry or a fault firing changes the tag but costs no walk of a million devices.
#[derive(Debug, Default)]
pub struct SummaryCache {
    tag: Mutex<Option<Cached>>,
    walked: Mutex<Option<Walked>>,
}

#[derive(Debug, Clone)]
struct Walked {
    key: [u64; 3],
    next_transition: Option<Timestamp>,
    customers: Arc<Vec<CustomerJson>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cached {
    key: [u64; 5],
    next_transition: Option<Timestamp>,
    etag: String,
}

/// The parameters a view takes, checked: unknown names and malformed values are a 400.
struct Params(HashMap<String, String>);

impl Params {
    fn new(query: HashMap<String, String>, allowed: &[&str]) -> Result<Self> {
        if let Some(other) = query.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::invalid_input(
                other,
                &format!("is not a parameter here; use {}.", allowed.join(", ")),
            ));
        }
        Ok(Self(query))
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn guid<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
        self.text(name)
            .map(|v| {
                parse(v).ok_or_else(|| {
                    ApiError::invalid_input(name, &format!("must be a GUID, got `{v}`."))
                })
            })
            .transpose()
    }

    fn customer(&self) -> Result<Option<CustomerId>> {
        self.guid("customer", CustomerId::parse)
    }

    fn partner(&self) -> Result<Option<TenantId>> {
        self.guid("partnerTenant", TenantId::parse)
    }

    fn number(&self, name: &str, default: usize, max: usize) -> Result<usize> {
        let Some(v) = self.text(name) else {
            return Ok(default);
        };
        let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        // An offset past any batch or job is simply past the end, however many digits it has.
        let n = v
            .parse::<usize>()
            .ok()
            .or_else(|| (digits && max == usize::MAX).then_some(usize::MAX));
        match n {
            Some(n) if digits && n <= max => Ok(n),
            _ => Err(ApiError::invalid_input(
                name,
                &format!("must be a whole number from 0 to {max}, got `{v}`."),
            )),
        }
    }

    fn flag(&self, name: &str) -> Result<bool> {
        match self.text(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(ApiError::invalid_input(
                name,
                &format!("must be true or false, got `{v}`."),
            )),
        }
    }
}

/// A store a view reads: the default data, or a partner tenant's.
enum Part<'a> {
    Default(&'a Store),
    Partner(Arc<Store>),
}

impl std::ops::Deref for Part<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        match self {
            Self::Default(s) => s,
            Self::Partner(s) => s,
        }
    }
}

/// The stores a view reads: the default data (`None`) and every partner tenant's, or only the
/// named partner tenant's (none when it has no data).
fn partitions(state: &AppState, partner: Option<TenantId>) -> Vec<(Option<TenantId>, Part<'_>)> {
    let partners = state.store.partner_stores();
    let mut all = Vec::with_capacity(partners.len() + 1);
    if partner.is_none() {
        all.push((None, Part::Default(&state.store)));
    }
    all.extend(
        partners
            .into_iter()
            .filter(|(t, _)| partner.is_none_or(|p| p == *t))
            .map(|(t, s)| (Some(t), Part::Partner(s))),
    );
    all
}

fn mode(state: &AppState) -> &'static str {
    if state.clock.is_manual() {
        "manual"
    } else {
        "system"
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryJson<'a> {
    now: String,
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_transition: Option<String>,
    fault_rules: usize,
    journal_entries: usize,
    customers: &'a [CustomerJson],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CustomerJson {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_tenant: Option<String>,
    policies: usize,
    jobs: JobCountsJson,
    batches: Vec<BatchJson>,
}

#[derive(Debug, Serialize)]
struct JobCountsJson {
    queued: usize,
    processing: usize,
    finished: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchJson {
    id: String,
    creation_date: String,
    devices_count: usize,
    pending_count: usize,
}

/// `GET /_emulator/summary`: customers, batches with counts, job counts, the clock and the next
/// job transition. A weak `ETag` over everything but the clock's reading on a system clock; with
/// a matching `If-None-Match` it answers 304 without walking the state.
pub async fn summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    Params::new(query, &[])?;
    let now = state.clock.now();
    let manual_now = if state.clock.is_manual() {
        now.as_offset().unix_timestamp_nanos() as u64
    } else {
        0
    };
    let key = [
        state.store.changes(),
        state.store.journal_version(),
        state.store.faults_version(),
        manual_now,
        u64::from(state.clock.is_manual()),
    ];
    let wanted = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let matches = |etag: &str| wanted.split(',').any(|t| t.trim() == etag);
    let cached = state
        .dashboard
        .tag
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(c) = cached
        && c.key == key
        && c.next_transition.is_none_or(|n| now < n)
        && matches(&c.etag)
    {
        return Ok(not_modified(&c.etag));
    }

    let Walked {
        next_transition: next,
        customers,
        ..
    } = walk(&state, now, [key[0], key[3], key[4]]);
    let etag = {
        let mut bytes = Vec::with_capacity(56);
        for k in key {
            bytes.extend_from_slice(&k.to_le_bytes());
        }
        if let Some(n) = next {
            bytes.extend_from_slice(&n.as_offset().unix_timestamp_nanos().to_le_bytes());
        }
        format!("W/\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&bytes))
    };
    *state
        .dashboard
        .tag
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(Cached {
        key,
        next_transition: next,
        etag: etag.clone(),
    });
    if matches(&etag) {
        return Ok(not_modified(&etag));
    }
    let body = SummaryJson {
        now: now.rfc3339(),
        mode: mode(&state),
        next_transition: next.map(|t| t.rfc3339()),
        fault_rules: state.store.faults().len(),
        journal_entries: state.store.journal_len(),
        customers: &customers,
    };
    let mut response = json_response(StatusCode::OK, &body);
    set_validator(&mut response, &etag);
    Ok(response)
}

/// The customers of every partition with their counts, and the next job transition: from the
/// last walk while the registry and the clock allow, else walked again.
fn walk(state: &AppState, now: Timestamp, key: [u64; 3]) -> Walked {
    let last = state
        .dashboard
        .walked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(w) = last
        && w.key == key
        && w.next_transition.is_none_or(|n| now < n)
    {
        return w;
    }
    let mut customers = Vec::new();
    let mut next: Option<Timestamp> = None;
    for (partner, store) in partitions(state, None) {
        let s = store.summary(now);
        if let Some(t) = s.next_transition
            && next.is_none_or(|n| t < n)
        {
            next = Some(t);
        }
        customers.extend(s.customers.into_iter().map(|c| {
            CustomerJson {
                id: c.id.to_string(),
                partner_tenant: partner.map(|p| p.to_string()),
                policies: c.policies,
                jobs: JobCountsJson {
                    queued: c.queued,
                    processing: c.processing,
                    finished: c.finished,
                },
                batches: c
                    .batches
                    .into_iter()
                    .map(|b| BatchJson {
                        id: b.id,
                        creation_date: b.created_at.rfc3339(),
                        devices_count: b.listed,
                        pending_count: b.pending,
                    })
                    .collect(),
            }
        }));
    }
    let walked = Walked {
        key,
        next_transition: next,
        customers: Arc::new(customers),
    };
    *state
        .dashboard
        .walked
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(walked.clone());
    walked
}

fn set_validator(response: &mut Response, etag: &str) {
    if let Ok(v) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    // The page must ask every time; the tag makes asking cheap.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

fn not_modified(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    set_validator(&mut response, etag);
    response
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobJson {
    tracking_id: String,
    customer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_tenant: Option<String>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<String>,
    status: &'static str,
    accepted_time: String,
    started_time: String,
    completed_time: String,
    devices: usize,
    /// Only once terminal: outcomes are revealed then, as the API reveals them.
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<usize>,
}

impl JobJson {
    fn of(s: &JobSummary, partner: Option<TenantId>, now: Timestamp) -> Self {
        let status = s.job.status_at(now);
        Self {
            tracking_id: s.job.id.to_string(),
            customer: s.customer.to_string(),
            partner_tenant: partner.map(|p| p.to_string()),
            kind: match s.kind {
                JobKind::Upload => "upload",
                JobKind::PolicyUpdate => "policyUpdate",
            },
            batch: s.batch.clone(),
            status: status.as_str(),
            accepted_time: s.job.accepted_at.rfc3339(),
            started_time: s.job.started_at.rfc3339(),
            completed_time: s.job.completed_at.rfc3339(),
            devices: s.job.entries.len(),
            failed: status.is_terminal().then(|| s.failed()),
        }
    }
}

#[derive(Serialize)]
struct JobList {
    jobs: Vec<JobJson>,
    total: usize,
}

/// `GET /_emulator/jobs?customer=&partnerTenant=&limit=`: upload and policy-update jobs, newest
/// first (at most `limit`, default 100), with their schedule and status on the emulator clock.
pub async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let params = Params::new(query, &["customer", "partnerTenant", "limit"])?;
    let customer = params.customer()?;
    let partner = params.partner()?;
    let limit = params.number("limit", 100, 10_000)?;
    let now = state.clock.now();
    let mut all: Vec<(Option<TenantId>, JobSummary)> = partitions(&state, partner)
        .into_iter()
        .flat_map(|(p, store)| {
            store
                .job_summaries(customer)
                .into_iter()
                .map(move |j| (p, j))
        })
        .collect();
    all.sort_by_key(|(_, j)| std::cmp::Reverse(j.job.accepted_at));
    let total = all.len();
    let jobs = all
        .iter()
        .take(limit)
        .map(|(p, j)| JobJson::of(j, *p, now))
        .collect();
    Ok(json_response(StatusCode::OK, &JobList { jobs, total }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutcomeJson {
    position: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobDetail {
    job: JobJson,
    devices_status: Vec<OutcomeJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_offset: Option<usize>,
}

/// `GET /_emulator/jobs/{tracking-id}?partnerTenant=&offset=&limit=&failed=`: a job and a page
/// of its per-device outcomes (`failed=true`: failures only, once terminal).
pub async fn job_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let params = Params::new(query, &["partnerTenant", "offset", "limit", "failed"])?;
    let partner = params.partner()?;
    let offset = params.number("offset", 0, usize::MAX)?;
    let limit = params.number("limit", 100, 10_000)?;
    let failed_only = params.flag("failed")?;
    let not_found = || ApiError::not_found(format!("Not found: no job `{id}`."));
    let tracking = TrackingId::parse(&id).ok_or_else(not_found)?;
    let (partner, summary) = partitions(&state, partner)
        .into_iter()
        .find_map(|(p, store)| store.job_summary(tracking).map(|s| (p, s)))
        .ok_or_else(not_found)?;
    let now = state.clock.now();
    let status = summary.job.status_at(now);
    let mut entries = summary
        .job
        .entries
        .iter()
        .enumerate()
        .skip(offset)
        .filter(|(_, e)| {
            !failed_only || (status.is_terminal() && matches!(e.outcome, Outcome::Failed(_)))
        });
    let mut devices_status = Vec::with_capacity(limit.min(summary.job.entries.len()));
    for (position, e) in entries.by_ref().take(limit) {
        let entry_status = summary.job.entry_status_at(e, now);
        let (device_id, error) = match (entry_status, e.outcome) {
            (JobStatus::Finished, Outcome::Succeeded(d)) => (Some(d.to_string()), None),
            (JobStatus::FinishedWithErrors, Outcome::Failed(err)) => (None, Some(err)),
            _ => (None, None),
        };
        devices_status.push(OutcomeJson {
            position,
            serial_number: e.text.serial_number().map(str::to_owned),
            product_key: e.text.product_key().map(str::to_owned),
            device_id: e.device_ref.as_deref().map(str::to_owned).or(device_id),
            status: entry_status.as_str(),
            error_code: error.map(|e| e.code()),
            error_description: error.map(|e| e.description()),
        });
    }
    let next_offset = entries.next().map(|(position, _)| position);
    Ok(json_response(
        StatusCode::OK,
        &JobDetail {
            job: JobJson::of(&summary, partner, now),
            devices_status,
            next_offset,
        },
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceJson {
    id: String,
    customer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_tenant: Option<String>,
    batch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oem_manufacturer_name: Option<String>,
    /// The assigned profile's name, as the API shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
    uploaded_date: String,
    listed: bool,
}

impl DeviceJson {
    fn of(row: DeviceRow, partner: Option<TenantId>) -> Self {
        let d = row.device;
        Self {
            id: d.id.to_string(),
            customer: row.customer.to_string(),
            partner_tenant: partner.map(|p| p.to_string()),
            batch: row.batch,
            serial_number: d.serial_number,
            product_key: d.product_key,
            model_name: d.model_name,
            oem_manufacturer_name: d.oem_manufacturer_name,
            profile: d.policy_name,
            uploaded_date: d.uploaded_at.rfc3339(),
            listed: row.listed,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceList {
    devices: Vec<DeviceJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    positions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_offset: Option<usize>,
}

/// `GET /_emulator/devices`: with `customer` and `batch`, a page of the batch's registered
/// devices from position `offset` (listed or not yet); with `q`, devices whose serial number or
/// product key contains it (or whose id it is), in every customer or `customer`'s.
pub async fn list_devices(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let params = Params::new(
        query,
        &["customer", "partnerTenant", "batch", "q", "offset", "limit"],
    )?;
    let customer = params.customer()?;
    let partner = params.partner()?;
    let offset = params.number("offset", 0, usize::MAX)?;
    let limit = params.number("limit", 100, 1000)?;
    let now = state.clock.now();
    match (params.text("q"), params.text("batch")) {
        (Some(q), None) if !q.trim().is_empty() => {
            let mut devices = Vec::new();
            for (p, store) in partitions(&state, partner) {
                let left = limit.saturating_sub(devices.len());
                devices.extend(
                    store
                        .search_devices(customer, q.trim(), left, now)
                        .into_iter()
                        .map(|row| DeviceJson::of(row, p)),
                );
            }
            Ok(json_response(
                StatusCode::OK,
                &DeviceList {
                    devices,
                    positions: None,
                    next_offset: None,
                },
            ))
        }
        (None, Some(batch)) => {
            let customer = customer
                .ok_or_else(|| ApiError::invalid_input("customer", "is required with `batch`."))?;
            let not_found = || ApiError::not_found(format!("Not found: no batch `{batch}`."));
            let (p, store) = match partner {
                Some(_) => partitions(&state, partner)
                    .into_iter()
                    .next()
                    .ok_or_else(not_found)?,
                None => (None, Part::Default(&state.store)),
            };
            let rows = store
                .device_rows(customer, batch, offset, limit, now)
                .map_err(|_| not_found())?;
            Ok(json_response(
                StatusCode::OK,
                &DeviceList {
                    devices: rows
                        .devices
                        .into_iter()
                        .map(|row| DeviceJson::of(row, p))
                        .collect(),
                    positions: Some(rows.positions),
                    next_offset: rows.next_offset,
                },
            ))
        }
        _ => Err(ApiError::invalid_input(
            "",
            "give either `q` (a non-empty search) or `customer` and `batch`.",
        )),
    }
}
