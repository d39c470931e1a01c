//! Files attached to an incident: a screenshot, a letter, a referral form. What a file is, is
//! found from its bytes, not from its name or what the browser said: PDFs, pictures (PNG, JPEG,
//! GIF, WebP), plain text and office documents are kept; web pages, SVG pictures (which can
//! carry scripts) and anything else are refused. Every file is served as a download, never shown
//! in the console's own pages, with headers that stop a browser guessing or running anything.

use axum::extract::Multipart;
use axum::http::header;

use super::*;

/// What a file's bytes are, for the kinds Ward keeps: its content type; or why it is refused.
pub(super) fn sniff(name: &str, bytes: &[u8]) -> Result<&'static str, String> {
    const REFUSED: &str = "Ward keeps PDFs, pictures (PNG, JPEG, GIF, WebP), plain text and \
                           Word, Excel or OpenDocument files; this one is none of them";
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    if bytes.starts_with(b"%PDF-") {
        return Ok("application/pdf");
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok("image/png");
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Ok("image/jpeg");
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Ok("image/gif");
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Ok("image/webp");
    }
    if bytes.starts_with(b"PK\x03\x04") {
        // An office document is a zip; so is anything else zipped. Only these names pass, and
        // they are only ever downloaded.
        return match extension.as_str() {
            "docx" => Ok("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            "xlsx" => Ok("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            "pptx" => {
                Ok("application/vnd.openxmlformats-officedocument.presentationml.presentation")
            }
            "odt" => Ok("application/vnd.oasis.opendocument.text"),
            "ods" => Ok("application/vnd.oasis.opendocument.spreadsheet"),
            _ => Err(REFUSED.into()),
        };
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(REFUSED.into());
    };
    if text.contains('\0') {
        return Err(REFUSED.into());
    }
    let start: String = text.chars().take(4096).collect::<String>().to_lowercase();
    if [
        "<html",
        "<!doctype",
        "<script",
        "<svg",
        "<body",
        "<iframe",
        "<?xml",
    ]
    .iter()
    .any(|markup| start.contains(markup))
    {
        return Err(
            "Web pages and SVG pictures can carry scripts, so Ward does not keep them: \
                    print the page to PDF, or take a screenshot, and attach that"
                .into(),
        );
    }
    Ok("text/plain; charset=utf-8")
}

/// A file as the incident's page lists it.
pub struct FileView {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) kind: &'static str,
    pub(super) size: String,
    pub(super) by: String,
    pub(super) at: String,
    pub(super) sha256: String,
}

fn kind_of(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "PDF",
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" => "picture",
        text if text.starts_with("text/plain") => "text",
        _ => "document",
    }
}

fn size_of(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{} KB", b / 1024),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// The files of an incident `user` may see, for its page.
pub(super) async fn views(
    state: &AppState,
    user: &CurrentUser,
    id: IncidentId,
) -> Result<Vec<FileView>, AppError> {
    Ok(state
        .store()
        .incident_files(user.account.school, scope(user), id)
        .await?
        .into_iter()
        .map(|file| FileView {
            id: file.id,
            kind: kind_of(&file.content_type),
            size: size_of(file.size),
            by: file.uploaded_by,
            at: local_time(state, file.uploaded_at),
            sha256: file.sha256,
            name: file.name,
        })
        .collect())
}

/// `POST /incidents/{id}/files?csrf=…` (multipart: `file`): attaches a file to an incident the
/// user may see, if it is a kind Ward keeps; audited with its SHA-256.
pub async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<IncidentId>,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    let store = state.store();
    let school = user.account.school;
    store.incident(school, scope(&user), id).await?;
    let unreadable = |error: axum::extract::multipart::MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE
            || error.body_text().contains("too large")
        {
            AppError::TooLarge
        } else {
            AppError::BadRequest(format!(
                "The upload could not be read: {}",
                error.body_text()
            ))
        }
    };
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("attachment").to_owned();
            let bytes = field.bytes().await.map_err(unreadable)?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let Some((name, bytes)) = file.filter(|(_, bytes)| !bytes.is_empty()) else {
        return Err(AppError::BadRequest("Choose a file to attach.".into()));
    };
    let content_type =
        sniff(&name, &bytes).map_err(|why| AppError::BadRequest(format!("{why}.")))?;
    let file = store
        .attach_incident_file(
            school,
            scope(&user),
            id,
            &user.account.username,
            &ward_store::NewIncidentFile {
                name: &name,
                content_type,
                data: &bytes,
            },
        )
        .await
        .map_err(refused)?;
    user.record(
        store,
        "incident.file",
        &format!("incident:{id}"),
        format!(
            "{} ({} bytes, SHA-256 {})",
            file.name, file.size, file.sha256
        ),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}#files")).into_response())
}

/// `filename` for a `Content-Disposition` header: the name in ASCII (others as `_`) and, for
/// the rest, the RFC 5987 form.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ';' | '%') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /incidents/{id}/files/{file}`: the file, as a download only; audited.
pub async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, file)): Path<(IncidentId, i64)>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    let store = state.store();
    let (file, data) = store
        .incident_file(user.account.school, scope(&user), id, file)
        .await?;
    user.record(
        store,
        "incident.file.download",
        &format!("incident:{id}"),
        format!("{} (SHA-256 {})", file.name, file.sha256),
        None,
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, file.content_type.clone()),
            (header::CONTENT_DISPOSITION, disposition(&file.name)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'; sandbox".to_owned(),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        data,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_file_is_comes_from_its_bytes() {
        assert_eq!(sniff("x.bin", b"%PDF-1.7\n..."), Ok("application/pdf"));
        assert_eq!(
            sniff("screenshot.txt", b"\x89PNG\r\n\x1a\n...."),
            Ok("image/png"),
            "the name does not matter"
        );
        assert_eq!(sniff("a.jpg", &[0xff, 0xd8, 0xff, 0xe0]), Ok("image/jpeg"));
        assert_eq!(
            sniff("notes.txt", "Jo said…".as_bytes()),
            Ok("text/plain; charset=utf-8")
        );
        assert!(sniff("letter.docx", b"PK\x03\x04rest").is_ok());
        for hostile in [
            ("page.html", b"<!DOCTYPE html><p>hi".as_slice()),
            ("page.txt", b"  <html><script>alert(1)</script>".as_slice()),
            (
                "pic.svg",
                b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>".as_slice(),
            ),
            ("pic.png", b"<?xml version='1.0'?><svg/>".as_slice()),
            (
                "tool.exe",
                b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\xff\xff".as_slice(),
            ),
            ("archive.zip", b"PK\x03\x04anything".as_slice()),
            ("nul.txt", b"text\0with a NUL".as_slice()),
        ] {
            assert!(
                sniff(hostile.0, hostile.1).is_err(),
                "{} was kept",
                hostile.0
            );
        }
    }

    #[test]
    fn a_download_name_cannot_break_the_header() {
        let header = disposition("Jo's \"report\"; evil.pdf\r\nX: y");
        assert!(!header.contains('\r') && !header.contains('\n'), "{header}");
        assert!(
            header.starts_with("attachment; filename=\"Jo's _report__ evil.pdf__X: y\""),
            "{header}"
        );
        assert!(disposition("café.pdf").contains("filename*=UTF-8''caf%C3%A9.pdf"));
    }
}
