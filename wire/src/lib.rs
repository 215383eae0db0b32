//! The words the Vitrine server and its agents share: domain values parsed at the edge
//! (`ProjectSlug`, `PrettyPath`, `BuildNum`, ...) and the agent API's typed requests and
//! answers. Serde only: no server, database or HTTP client code, so a slim agent can link it.

pub mod agent;
pub mod domain;
