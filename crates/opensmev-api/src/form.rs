//! Sends given as `multipart/form-data`: the business XML and the options as form fields, the
//! attachments as file parts (each part's file name is the attachment's id, its
//! `Content-Type` the MIME type). Parts larger than [`SPILL_BYTES`] go to spool files under
//! [`crate::ApiSettings::spool_dir`], which the store takes over when the message is accepted
//! (and which are removed otherwise), so a large attachment is never held in memory whole.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use axum::body::Body;
use opensmev_store::Blob;

use crate::{ApiState, Problem};
use opensmev_core::integration::{OutgoingAttachment, OutgoingContent};

/// Parts up to this size stay in memory.
pub(crate) const SPILL_BYTES: usize = 1024 * 1024;

/// The form fields that are text (everything but the attachments).
const TEXT_FIELDS: [&str; 9] = [
    "business_xml",
    "personal_signature_xml",
    "message_id",
    "client_id",
    "reference_message_id",
    "transaction_code",
    "node_id",
    "eol",
    "test_message",
];

/// The largest text field, in bytes (the business XML is limited by `max_body_bytes`).
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Spool files of one request: removed when dropped, unless the store took them over (moved
/// them away).
#[derive(Debug, Default)]
pub(crate) struct SpoolFiles(Vec<PathBuf>);

impl Drop for SpoolFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A form read.
#[derive(Debug)]
pub(crate) struct Form {
    /// The content (business XML, personal signature, attachments).
    pub(crate) content: OutgoingContent,
    /// The option fields by name.
    pub(crate) fields: HashMap<String, String>,
    /// The spool files of the attachments (keep until the send returned).
    pub(crate) files: SpoolFiles,
}

/// The parts of a `multipart/form-data` body, as `limits` allow.
pub(crate) fn multipart(
    content_type: &str,
    body: Body,
    limits: multer::SizeLimit,
) -> Result<multer::Multipart<'static>, Problem> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| Problem::bad_form(format!("no usable boundary in Content-Type: {e}")))?;
    let constraints = multer::Constraints::new().size_limit(limits);
    Ok(multer::Multipart::with_constraints(
        body.into_data_stream(),
        boundary,
        constraints,
    ))
}

/// The problem of a form that cannot be read: a stream or a part over its size limit is 413
/// (naming `limit`), anything else 400.
pub(crate) fn failure(limit: usize) -> impl Fn(multer::Error) -> Problem + Copy {
    move |e| match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            Problem::too_large(limit)
        }
        e => Problem::bad_form(e.to_string()),
    }
}

/// Reads a `multipart/form-data` send.
pub(crate) async fn read(
    state: &ApiState,
    content_type: &str,
    body: Body,
) -> Result<Form, Problem> {
    let limit = state.settings.max_form_bytes;
    let max_xml = state.settings.max_body_bytes;
    let mut multipart = multipart(
        content_type,
        body,
        multer::SizeLimit::new()
            .whole_stream(limit as u64)
            .for_field("business_xml", max_xml as u64)
            .for_field("personal_signature_xml", MAX_FIELD_BYTES as u64),
    )?;
    let mut content = OutgoingContent::default();
    let mut business = None;
    let mut fields = HashMap::new();
    let mut files = SpoolFiles::default();
    let failed = failure(limit);
    while let Some(mut field) = multipart.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "attachment" {
            let Some(id) = field
                .file_name()
                .map(str::to_owned)
                .filter(|n| !n.is_empty())
            else {
                return Err(Problem::bad_form(
                    "an attachment part needs a file name: the attachment's id",
                ));
            };
            let Some(mime_type) = field.content_type().map(|m| m.essence_str().to_owned()) else {
                return Err(Problem::bad_form(format!(
                    "the attachment part «{id}» needs a Content-Type: the attachment's MIME type"
                )));
            };
            let mut memory: Vec<u8> = Vec::new();
            let mut file: Option<(std::fs::File, PathBuf)> = None;
            let mut len: u64 = 0;
            while let Some(chunk) = field.chunk().await.map_err(failed)? {
                len += chunk.len() as u64;
                match &mut file {
                    Some((f, path)) => f.write_all(&chunk).map_err(|e| spool_error(path, &e))?,
                    None if memory.len() + chunk.len() > SPILL_BYTES
                        && state.settings.spool_dir.is_some() =>
                    {
                        let (mut f, path) = spool_file(state)?;
                        files.0.push(path.clone());
                        f.write_all(&memory)
                            .and_then(|()| f.write_all(&chunk))
                            .map_err(|e| spool_error(&path, &e))?;
                        memory = Vec::new();
                        file = Some((f, path));
                    }
                    None => memory.extend_from_slice(&chunk),
                }
            }
            let data = match file {
                Some((f, path)) => {
                    f.sync_all().map_err(|e| spool_error(&path, &e))?;
                    Blob::File { path, len }
                }
                None => Blob::Bytes(memory),
            };
            content.attachments.push(OutgoingAttachment {
                id,
                mime_type,
                data,
            });
            continue;
        }
        if !TEXT_FIELDS.contains(&name.as_str()) {
            return Err(Problem::bad_form(format!(
                "unknown form field «{name}» (known: {}, attachment)",
                TEXT_FIELDS.join(", ")
            )));
        }
        let text = field.text().await.map_err(failed)?;
        if name != "business_xml" && text.len() > MAX_FIELD_BYTES {
            return Err(Problem::too_large(MAX_FIELD_BYTES));
        }
        let previous = match name.as_str() {
            "business_xml" => business.replace(text).map(|_| ()),
            "personal_signature_xml" => content.personal_signature_xml.replace(text).map(|_| ()),
            other => fields.insert(other.to_owned(), text).map(|_| ()),
        };
        if previous.is_some() {
            return Err(Problem::bad_form(format!(
                "the form field «{name}» is given twice"
            )));
        }
    }
    content.business_xml =
        business.ok_or_else(|| Problem::bad_form("the form has no business_xml field"))?;
    Ok(Form {
        content,
        fields,
        files,
    })
}

fn spool_error(path: &std::path::Path, e: &std::io::Error) -> Problem {
    tracing::error!(path = %path.display(), error = %e, "writing an attachment to the spool");
    Problem::internal("SMEV-500")
}

fn spool_file(state: &ApiState) -> Result<(std::fs::File, PathBuf), Problem> {
    let dir = state
        .settings
        .spool_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let random = opensmev_crypto::random_bytes(12)
        .map_err(|e| spool_error(&dir, &std::io::Error::other(e.to_string())))?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("api-{name}.part"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| spool_error(&path, &e))?;
    Ok((file, path))
}
