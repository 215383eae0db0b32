//! The words the Vitrine server and its agents share: domain values parsed at the edge
//! (`ProjectSlug`, `PrettyPath`, `BuildNum`, ...), the agent API's typed requests and
//! answers, and what reports say (`report`: test outcomes, image changes) for the build page. Serde only: no server, database or HTTP client code, so a slim agent can link it.

pub mod agent;
pub mod domain;
pub mod report;
