//! What an artifact's bytes are to a browser: the content type guessed from its name, whether
//! a browser would run it (then only on the artifacts origin), and how it is offered.

/// Content types a browser would run as a page or script: on the storage origin these are
/// still shown, but never on the app's origin.
pub fn is_active_content(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/html")
        || ct.starts_with("application/xhtml")
        || ct.starts_with("image/svg")
        || ct.contains("javascript")
        || ct.contains("xml")
}

/// Types a browser shows inline; everything else is offered as a download with its name.
fn shown_inline(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.starts_with("image/")
        || ct.starts_with("video/")
        || ct.starts_with("audio/")
        || ct == "application/pdf"
        || ct == "application/json"
        || is_active_content(&ct)
}

pub fn content_disposition(pretty_path: &str, content_type: &str) -> String {
    let name = pretty_path.rsplit('/').next().unwrap_or(pretty_path);
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    let kind = if shown_inline(content_type) { "inline" } else { "attachment" };
    format!("{kind}; filename*=UTF-8''{encoded}")
}

/// `text/plain` gains a charset so logs with UTF-8 read right.
pub fn guess_content_type(pretty_path: &str) -> String {
    if pretty_path.ends_with(".log") {
        return "text/plain; charset=utf-8".to_owned();
    }
    let mime = mime_guess::from_path(pretty_path).first_or_octet_stream();
    let essence = mime.essence_str();
    if mime.type_() == mime_guess::mime::TEXT || essence == "application/json" || essence == "application/javascript" {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_and_dispositions() {
        assert_eq!(guess_content_type("x/report.html"), "text/html; charset=utf-8");
        assert_eq!(guess_content_type("shot.png"), "image/png");
        assert_eq!(guess_content_type("build.log"), "text/plain; charset=utf-8");
        assert_eq!(guess_content_type("blob.tar.gz"), "application/gzip");
        assert!(content_disposition("a/b.zip", "application/zip").starts_with("attachment;"));
        assert!(content_disposition("a/b.png", "image/png").starts_with("inline;"));
        assert!(is_active_content("image/svg+xml"));
    }
}
