//! The ids of what the store keeps, one type each, so a build's id is never passed where a
//! project's is expected. They are the database's 64-bit keys, bound and read as they are.

use std::fmt;
use std::num::ParseIntError;
use std::str::FromStr;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

id!(
    /// A user's id.
    UserId
);
id!(
    /// A token's id (a personal, project or build token), as `admin token list` shows it.
    TokenId
);
id!(
    /// A project's id.
    ProjectId
);
id!(
    /// A build's id: unique across projects (unlike its number, which counts within one).
    BuildId
);
