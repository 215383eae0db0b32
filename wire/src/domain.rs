//! Values parsed from the outside world (URLs, CLI flags, agent requests), proven once at the edge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A rejected value, with a message written for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

fn invalid(message: impl Into<String>) -> InvalidInput {
    InvalidInput(message.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VcsType {
    Github,
    Bitbucket,
}

impl VcsType {
    /// The long name stored in the database and returned by the API (`github`).
    pub fn as_str(self) -> &'static str {
        match self {
            VcsType::Github => "github",
            VcsType::Bitbucket => "bitbucket",
        }
    }

    /// The short name used in page URLs, as CircleCI does (`gh`).
    pub fn short(self) -> &'static str {
        match self {
            VcsType::Github => "gh",
            VcsType::Bitbucket => "bb",
        }
    }
}

impl FromStr for VcsType {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "github" | "gh" => Ok(VcsType::Github),
            "bitbucket" | "bb" => Ok(VcsType::Bitbucket),
            other => Err(invalid(format!("Invalid vcs type `{other}`: expected github, gh, bitbucket or bb"))),
        }
    }
}

/// `vcs_type/org/repo`, the identity of a project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectSlug {
    pub vcs: VcsType,
    pub org: String,
    pub repo: String,
}

fn check_name(kind: &str, value: &str) -> Result<(), InvalidInput> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value != "."
        && value != ".."
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("Invalid {kind} name `{value}`: use letters, digits, `-`, `_` or `.` (at most 100)")))
    }
}

impl ProjectSlug {
    pub fn new(vcs: &str, org: &str, repo: &str) -> Result<Self, InvalidInput> {
        let vcs = vcs.parse()?;
        check_name("organization", org)?;
        check_name("repository", repo)?;
        Ok(ProjectSlug { vcs, org: org.to_owned(), repo: repo.to_owned() })
    }

    /// `gh/acme/widgets`, the form used in page URLs and API v2 slugs.
    pub fn short(&self) -> String {
        format!("{}/{}/{}", self.vcs.short(), self.org, self.repo)
    }
}

impl FromStr for ProjectSlug {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            [vcs, org, repo] => ProjectSlug::new(vcs, org, repo),
            _ => Err(invalid(format!("Invalid project `{s}`: expected VCS/ORG/REPO, for example gh/acme/widgets"))),
        }
    }
}

impl fmt::Display for ProjectSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.vcs.as_str(), self.org, self.repo)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BuildNum(pub i64);

impl FromStr for BuildNum {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(BuildNum(n)),
            _ => Err(invalid(format!("Invalid build number `{s}`: expected a number from 1"))),
        }
    }
}

impl fmt::Display for BuildNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which build a route means: a number, or `latest` matching a branch and status filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildRef {
    Num(BuildNum),
    Latest { branch: Option<String>, filter: StatusFilter },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeIndex(pub i64);

pub const MAX_PARALLELISM: i64 = 1000;

impl TryFrom<i64> for NodeIndex {
    type Error = InvalidInput;

    fn try_from(n: i64) -> Result<Self, Self::Error> {
        n.to_string().parse()
    }
}

impl FromStr for NodeIndex {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<i64>() {
            Ok(n) if (0..MAX_PARALLELISM).contains(&n) => Ok(NodeIndex(n)),
            _ => Err(invalid(format!("Invalid node index `{s}`: expected a number from 0 to {}", MAX_PARALLELISM - 1))),
        }
    }
}

impl fmt::Display for NodeIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The path an artifact is listed and addressed under (`tmp/artifacts/a.png`,
/// `$CIRCLE_ARTIFACTS/log.txt`). Relative, `/`-separated, no `.` or `..` segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrettyPath(String);

pub const MAX_PATH_LEN: usize = 4096;

impl PrettyPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PrettyPath {
    type Error = InvalidInput;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.is_empty() {
            return Err(invalid("Artifact path is empty"));
        }
        if s.len() > MAX_PATH_LEN {
            return Err(invalid(format!("Artifact path is longer than {MAX_PATH_LEN} bytes")));
        }
        if s.chars().any(|c| c == '\0' || c == '\\' || c.is_control()) {
            return Err(invalid(format!(
                "Artifact path `{}` contains a control character or backslash",
                s.escape_debug()
            )));
        }
        if let Some(c) = s.chars().find(|c| is_invisible(*c)) {
            return Err(invalid(format!(
                "Artifact path `{}` contains an invisible or direction-changing character (U+{:04X}): \
                 it would make the name read other than it is",
                s.escape_debug(),
                c as u32
            )));
        }
        if s.starts_with('/') {
            return Err(invalid(format!("Artifact path `{s}` must be relative")));
        }
        for segment in s.split('/') {
            match segment {
                "" => return Err(invalid(format!("Artifact path `{s}` has an empty segment"))),
                "." | ".." => {
                    return Err(invalid(format!("Artifact path `{s}` may not contain `.` or `..`")));
                }
                _ => {}
            }
        }
        Ok(PrettyPath(s))
    }
}

/// Where an artifact was on the build machine (`/home/circleci/project/out/a.png`,
/// `C:\build\out\a.png`), as CircleCI lists it in `path`: shown, never opened, so any
/// operating system's path goes, as long as it reads as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourcePath(String);

impl SourcePath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SourcePath {
    type Error = InvalidInput;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.is_empty() {
            return Err(invalid("Artifact source path is empty"));
        }
        if s.len() > MAX_PATH_LEN {
            return Err(invalid(format!("Artifact source path is longer than {MAX_PATH_LEN} bytes")));
        }
        if let Some(c) = s.chars().find(|c| c.is_control() || is_invisible(*c)) {
            return Err(invalid(format!(
                "Artifact source path `{}` contains a control, invisible or direction-changing character (U+{:04X})",
                s.escape_debug(),
                c as u32
            )));
        }
        Ok(SourcePath(s))
    }
}

impl From<SourcePath> for String {
    fn from(p: SourcePath) -> String {
        p.0
    }
}

/// Characters that show nothing or change the direction of what follows (Unicode's format
/// characters, line separators, and letters that render blank: the Hangul fillers, the
/// combining grapheme joiner): `invoice\u{202e}fdp.exe` would read `invoiceexe.pdf`.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{3164}'
            | '\u{FFA0}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

impl FromStr for PrettyPath {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PrettyPath::try_from(s.to_owned())
    }
}

impl From<PrettyPath> for String {
    fn from(p: PrettyPath) -> String {
        p.0
    }
}

impl fmt::Display for PrettyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A folder of a container: `""` for its top, else an artifact path and a closing `/`
/// (`reports/`, `reports/site.zip/css/`). Checked as a [`PrettyPath`] is, so its length is
/// bounded before anything looks at it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FolderPath(String);

impl FolderPath {
    pub const TOP: FolderPath = FolderPath(String::new());

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_top(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for FolderPath {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Ok(FolderPath::TOP);
        }
        let Some(stem) = s.strip_suffix('/') else {
            return Err(invalid(format!("`{}` is not a folder: a folder ends with /", truncated(s))));
        };
        let stem: PrettyPath = stem.parse().map_err(|e: InvalidInput| invalid(format!("Folder: {}", e.0)))?;
        Ok(FolderPath(format!("{stem}/")))
    }
}

impl fmt::Display for FolderPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a page of a folder starts: a cursor a previous page handed out, under the folder and
/// no longer than a path and its end mark.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderCursor(String);

impl FolderCursor {
    pub fn parse(s: &str, folder: &FolderPath) -> Result<FolderCursor, InvalidInput> {
        if s.len() > MAX_PATH_LEN + 8 || !s.starts_with(folder.as_str()) || s <= folder.as_str() {
            return Err(invalid("This page of the folder does not exist"));
        }
        Ok(FolderCursor(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SHA-256 digest as 64 lowercase hex digits: what an agent declares and the store proves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(String);

impl Sha256 {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A digest the metadata store recorded (checked when it was declared); `None` for the
    /// empty column of a file to be hashed while it is sent.
    pub fn from_stored(hex: String) -> Option<Sha256> {
        (!hex.is_empty()).then_some(Sha256(hex))
    }
}

impl FromStr for Sha256 {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Sha256(s.to_owned()))
        } else {
            Err(invalid(format!("Invalid sha256 `{}`: expected 64 lowercase hex digits", truncated(s))))
        }
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// At most 80 characters of what someone sent, for a message about it.
fn truncated(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    Running,
    Success,
    Failed,
    Canceled,
    Timedout,
    InfrastructureFail,
}

impl BuildStatus {
    pub const ALL: [BuildStatus; 6] = [
        BuildStatus::Running,
        BuildStatus::Success,
        BuildStatus::Failed,
        BuildStatus::Canceled,
        BuildStatus::Timedout,
        BuildStatus::InfrastructureFail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Running => "running",
            BuildStatus::Success => "success",
            BuildStatus::Failed => "failed",
            BuildStatus::Canceled => "canceled",
            BuildStatus::Timedout => "timedout",
            BuildStatus::InfrastructureFail => "infrastructure_fail",
        }
    }

    pub fn is_finished(self) -> bool {
        self != BuildStatus::Running
    }
}

impl FromStr for BuildStatus {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BuildStatus::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| {
            invalid(format!(
                "Invalid build status `{s}`: expected running, success, failed, canceled, timedout or infrastructure_fail"
            ))
        })
    }
}

/// The `filter` query parameter of CircleCI's build and `latest` routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Completed,
    Successful,
    Failed,
    Running,
}

impl StatusFilter {
    /// Statuses the filter admits.
    pub fn statuses(self) -> &'static [BuildStatus] {
        use BuildStatus::{Canceled, Failed, InfrastructureFail, Running, Success, Timedout};
        match self {
            StatusFilter::Completed => &[Success, Failed, Canceled, Timedout, InfrastructureFail],
            StatusFilter::Successful => &[Success],
            StatusFilter::Failed => &[Failed, Timedout, InfrastructureFail],
            StatusFilter::Running => &[Running],
        }
    }
}

impl FromStr for StatusFilter {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "completed" => Ok(StatusFilter::Completed),
            "successful" => Ok(StatusFilter::Successful),
            "failed" => Ok(StatusFilter::Failed),
            "running" => Ok(StatusFilter::Running),
            other => {
                Err(invalid(format!("Invalid filter `{other}`: expected completed, successful, failed or running")))
            }
        }
    }
}

/// 3 GiB: the largest file an artifact may be, as on CircleCI.
pub const MAX_ARTIFACT_SIZE: u64 = 3 * 1024 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_aliases_and_reject_traversal() {
        let slug: ProjectSlug = "gh/acme/widgets".parse().unwrap();
        assert_eq!(slug.to_string(), "github/acme/widgets");
        assert_eq!(slug.short(), "gh/acme/widgets");
        assert_eq!("bitbucket/a/b".parse::<ProjectSlug>().unwrap().vcs, VcsType::Bitbucket);
        assert!("svn/a/b".parse::<ProjectSlug>().is_err());
        assert!("gh/../b".parse::<ProjectSlug>().is_err());
        assert!("gh/a".parse::<ProjectSlug>().is_err());
    }

    #[test]
    fn sha256_is_64_lowercase_hex_digits() {
        let digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(digest.parse::<Sha256>().unwrap().as_str(), digest);
        for bad in ["", &digest[1..], &digest.to_uppercase(), &format!("{digest}0"), &digest.replace('e', "g")] {
            assert!(bad.parse::<Sha256>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(Sha256::from_stored(String::new()), None);
    }

    #[test]
    fn pretty_paths_keep_dollar_and_refuse_dot_segments() {
        assert!("$CIRCLE_ARTIFACTS/hello.txt".parse::<PrettyPath>().is_ok());
        assert!("tmp/artifacts/a b.png".parse::<PrettyPath>().is_ok());
        for bad in ["", "/etc/passwd", "a/../b", "..", "a//b", "./a", "a\\b", "a\u{0}"] {
            assert!(bad.parse::<PrettyPath>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn pretty_paths_refuse_what_would_make_them_read_otherwise() {
        for bad in ["invoice\u{202e}fdp.exe", "a\u{200b}b.png", "\u{feff}x", "x\u{2066}y", "a\u{2028}b", "t\u{e0041}"] {
            let e = bad.parse::<PrettyPath>().unwrap_err().to_string();
            assert!(e.contains("invisible or direction-changing"), "{bad:?}: {e}");
            assert!(!e.contains('\u{202e}'), "the message shows the character escaped: {e}");
        }
        for good in ["screens/Startseite – Übersicht.png", "日本語/テスト.txt", "emoji 📸.png", "résumé.pdf"]
        {
            assert!(good.parse::<PrettyPath>().is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn filters_map_to_statuses() {
        assert_eq!("successful".parse::<StatusFilter>().unwrap().statuses(), &[BuildStatus::Success]);
        assert!(!StatusFilter::Completed.statuses().contains(&BuildStatus::Running));
        assert!("bogus".parse::<StatusFilter>().is_err());
    }
}
