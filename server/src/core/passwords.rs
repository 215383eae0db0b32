//! Passwords: their hashes (argon2), what a password to keep must be, and where checks run.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash};
use tokio::sync::Semaphore;

use super::error::{ServiceError, ServiceResult};

/// How long a sign-in waits for a free password check before it is told to come back.
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(5);

/// Where password checks run: argon2 takes tens of milliseconds of CPU and 19 MiB each, so
/// checks go to the blocking pool, a bounded few at a time (half the cores), and a flood of
/// sign-ins can neither starve other requests of threads nor take every core.
#[derive(Clone, Debug)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
}

impl PasswordChecks {
    pub fn new(at_once: usize) -> PasswordChecks {
        PasswordChecks { permits: Arc::new(Semaphore::new(at_once.max(1))) }
    }

    /// Half of this machine's cores (at least one).
    pub fn for_this_machine() -> PasswordChecks {
        PasswordChecks::new(std::thread::available_parallelism().map_or(1, |n| n.get() / 2))
    }

    pub async fn matches(&self, password: &str, hash: &str) -> ServiceResult<bool> {
        let busy = || {
            metrics::counter!(crate::observe::RATE_LIMITED, "limit" => "password_checks").increment(1);
            ServiceError::TooManyRequests {
                message: "Too many sign-ins at once; try again in a few seconds".into(),
                retry_after: 5,
            }
        };
        let permit = tokio::time::timeout(PASSWORD_CHECK_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(ServiceError::internal)?;
        let (password, hash) = (password.to_owned(), hash.to_owned());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            password_matches(&password, &hash)
        })
        .await
        .map_err(ServiceError::internal)
    }
}

pub fn hash_password(password: &str) -> ServiceResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::internal(anyhow::anyhow!("argon2: {e}")))
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A password to keep: at least 8 characters (and at most 1024: argon2's work grows with it).
pub fn check_password(password: &str) -> ServiceResult<()> {
    match password.chars().count() {
        n if n < 8 => Err(ServiceError::BadRequest("The password must have at least 8 characters".into())),
        n if n > 1024 => Err(ServiceError::BadRequest("The password must have at most 1024 characters".into())),
        _ => Ok(()),
    }
}

/// An argon2 hash of a random password, checked against when the username is unknown.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3P6TRX2Eqsn0M6r2YxrkPw27JvQ4N2mMMYwRXc/9cmY";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(password_matches("correct horse", &hash));
        assert!(!password_matches("wrong horse", &hash));
        assert!(!password_matches("anything", ""), "an account without a password takes none");
    }
}
