//! `vitrine execute`: runs one job of a CircleCI 2.x config on this machine. `run` steps go
//! through `bash -eo pipefail`; `store_artifacts` steps store into a new build; `checkout` is
//! the current directory. Docker and machine executors are not started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::client::{AgentClient, BuildTarget};
use super::paths::{absolutize, expand_home};
use super::run::exit_code;
use super::store_artifacts::{ServerArgs, store};
use vitrine_wire::agent::StartRequest;

use crate::domain::{BuildNum, BuildStatus, NodeIndex};

#[derive(Debug, Args)]
pub struct ExecuteArgs {
    #[arg(long, default_value = ".circleci/config.yml")]
    pub config: PathBuf,
    #[arg(long, default_value = "build")]
    pub job: String,
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long, env = "CIRCLE_BRANCH", default_value = "main")]
    pub branch: String,
    #[arg(long, env = "CIRCLE_SHA1", default_value = "")]
    pub revision: String,
}

#[derive(Debug, Deserialize)]
struct Config {
    version: Option<Value>,
    #[serde(default)]
    jobs: BTreeMap<String, Job>,
}

#[derive(Debug, Deserialize)]
struct Job {
    docker: Option<Value>,
    machine: Option<Value>,
    macos: Option<Value>,
    executor: Option<Value>,
    working_directory: Option<String>,
    /// Nodes of the build; this machine runs node 0, others join with `vitrine run --build-num`.
    parallelism: Option<i64>,
    #[serde(default)]
    environment: BTreeMap<String, Value>,
    #[serde(default)]
    steps: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    OnSuccess,
    Always,
    OnFail,
}

#[derive(Debug)]
enum Step {
    Checkout,
    Run {
        name: String,
        command: String,
        working_directory: Option<String>,
        environment: BTreeMap<String, String>,
        when: When,
    },
    StoreArtifacts {
        path: String,
        destination: Option<String>,
    },
    Unsupported(String),
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn env_map(v: Option<&Value>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(Value::Mapping(m)) = v {
        for (k, v) in m {
            let (Some(k), Some(v)) = (scalar(k), scalar(v)) else {
                bail!("environment values must be strings or numbers")
            };
            out.insert(k, v);
        }
    }
    Ok(out)
}

fn parse_when(v: Option<&Value>) -> anyhow::Result<When> {
    match v.and_then(scalar).as_deref() {
        None | Some("on_success") => Ok(When::OnSuccess),
        Some("always") => Ok(When::Always),
        Some("on_fail") => Ok(When::OnFail),
        Some(other) => bail!("`when: {other}` is not one of on_success, always, on_fail"),
    }
}

fn parse_step(index: usize, v: &Value) -> anyhow::Result<Step> {
    let at = || format!("step {}", index + 1);
    if let Value::String(s) = v {
        return Ok(if s == "checkout" { Step::Checkout } else { Step::Unsupported(s.clone()) });
    }
    let Value::Mapping(map) = v else { bail!("{}: expected a step name or a map", at()) };
    let Some((Value::String(kind), body)) = map.iter().next() else { bail!("{}: empty step", at()) };
    match kind.as_str() {
        "checkout" => Ok(Step::Checkout),
        "run" => match body {
            Value::String(command) => Ok(Step::Run {
                name: command.lines().next().unwrap_or_default().to_owned(),
                command: command.clone(),
                working_directory: None,
                environment: BTreeMap::new(),
                when: When::OnSuccess,
            }),
            Value::Mapping(m) => {
                let get = |k: &str| m.get(Value::String(k.to_owned()));
                let command =
                    get("command").and_then(scalar).with_context(|| format!("{}: a run step needs a command", at()))?;
                Ok(Step::Run {
                    name: get("name")
                        .and_then(scalar)
                        .unwrap_or_else(|| command.lines().next().unwrap_or_default().to_owned()),
                    working_directory: get("working_directory").and_then(scalar),
                    environment: env_map(get("environment")).with_context(at)?,
                    when: parse_when(get("when")).with_context(at)?,
                    command,
                })
            }
            _ => bail!("{}: run must be a command or a map", at()),
        },
        "store_artifacts" => {
            let Value::Mapping(m) = body else { bail!("{}: store_artifacts needs a path", at()) };
            let get = |k: &str| m.get(Value::String(k.to_owned())).and_then(scalar);
            let path = get("path").with_context(|| format!("{}: store_artifacts needs a path", at()))?;
            Ok(Step::StoreArtifacts { path, destination: get("destination") })
        }
        other => Ok(Step::Unsupported(other.to_owned())),
    }
}

fn load(path: &Path, job: &str) -> anyhow::Result<(Job, Vec<Step>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the config {}", path.display()))?;
    let mut config: Config =
        serde_yaml_ng::from_str(&text).with_context(|| format!("{} is not a valid CircleCI config", path.display()))?;
    match config.version.as_ref().and_then(scalar).as_deref() {
        Some("2" | "2.0" | "2.1") => {}
        other => bail!("{}: version {} is not supported; use 2 or 2.1", path.display(), other.unwrap_or("(none)")),
    }
    let names: Vec<String> = config.jobs.keys().cloned().collect();
    let job = config
        .jobs
        .remove(job)
        .with_context(|| format!("no job `{job}` in {}; its jobs are: {}", path.display(), names.join(", ")))?;
    let steps = job.steps.iter().enumerate().map(|(i, s)| parse_step(i, s)).collect::<anyhow::Result<Vec<_>>>()?;
    Ok((job, steps))
}

pub async fn run(args: ExecuteArgs) -> anyhow::Result<ExitCode> {
    let (job, steps) = load(&args.config, &args.job)?;
    let cwd = std::env::current_dir()?;
    let (job_dir, job_env) = prepare(&job, &cwd)?;
    let client = args.server.client()?;
    let request = StartRequest {
        branch: Some(args.branch.clone()),
        revision: Some(args.revision.clone()),
        node_total: job.parallelism,
        ..StartRequest::default()
    };
    let started = client.start_build(&request).await?;
    let build_num = BuildNum(started.build_num);
    let target = BuildTarget { build_num, node_index: NodeIndex(0) };
    eprintln!("vitrine: build {} started: {}", build_num, started.build_url);
    let project = client.project().clone();
    let circle_env: Vec<(&str, std::ffi::OsString)> = vec![
        ("CI", "true".into()),
        ("CIRCLECI", "true".into()),
        ("CIRCLE_BUILD_NUM", build_num.to_string().into()),
        ("CIRCLE_NODE_INDEX", "0".into()),
        ("CIRCLE_NODE_TOTAL", started.node_total.to_string().into()),
        ("CIRCLE_BRANCH", args.branch.clone().into()),
        ("CIRCLE_SHA1", args.revision.clone().into()),
        ("CIRCLE_JOB", args.job.clone().into()),
        ("CIRCLE_PROJECT_USERNAME", project.org.clone().into()),
        ("CIRCLE_PROJECT_REPONAME", project.repo.clone().into()),
        ("CIRCLE_WORKING_DIRECTORY", job_dir.clone().into()),
        ("CIRCLE_BUILD_URL", started.build_url.clone().into()),
    ];
    let execution =
        Execution { client: &client, target: &target, cwd: &cwd, job_dir: &job_dir, job_env: &job_env, circle_env };
    let mut failed = false;
    for step in &steps {
        failed |= !execution.step(step, failed).await;
    }
    let status = if failed { BuildStatus::Failed } else { BuildStatus::Success };
    let finished = client.finish(&target, status).await?;
    eprintln!("vitrine: build {build_num} is {}: {}", finished.status.as_str(), started.build_url);
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The job's working directory (made if missing) and environment; says which executors it
/// does not start.
fn prepare(job: &Job, cwd: &Path) -> anyhow::Result<(PathBuf, BTreeMap<String, String>)> {
    let job_dir = match &job.working_directory {
        Some(d) => absolutize(cwd, &expand_home(d)),
        None => cwd.to_path_buf(),
    };
    std::fs::create_dir_all(&job_dir)
        .with_context(|| format!("cannot create working directory {}", job_dir.display()))?;
    for (kind, present) in [
        ("docker", job.docker.is_some()),
        ("machine", job.machine.is_some()),
        ("macos", job.macos.is_some()),
        ("executor", job.executor.is_some()),
    ] {
        if present {
            eprintln!("vitrine: the {kind} executor is not started; steps run on this machine");
        }
    }
    let job_env = env_map(Some(&Value::Mapping(
        job.environment.iter().map(|(k, v)| (Value::String(k.clone()), v.clone())).collect(),
    )))?;
    Ok((job_dir, job_env))
}

/// A job on its way: where and with what its steps run, and the build they store into.
struct Execution<'a> {
    client: &'a AgentClient,
    target: &'a BuildTarget,
    cwd: &'a Path,
    job_dir: &'a Path,
    job_env: &'a BTreeMap<String, String>,
    /// What CircleCI sets for every step.
    circle_env: Vec<(&'static str, std::ffi::OsString)>,
}

impl Execution<'_> {
    /// Runs a step (or says why it is skipped), after steps that `failed` or not; answers
    /// whether it went well.
    async fn step(&self, step: &Step, failed: bool) -> bool {
        match step {
            Step::Checkout => eprintln!("==> Checkout: using {} as the checkout", self.cwd.display()),
            Step::Unsupported(kind) => eprintln!("==> Skipping `{kind}`: not supported by vitrine execute"),
            Step::StoreArtifacts { path, destination } => {
                eprintln!("==> Uploading artifacts: {path}");
                match store(self.client, self.target, self.job_dir, path, destination.as_deref()).await {
                    Ok(report) => return report.ok(),
                    Err(e) => {
                        eprintln!("vitrine: store_artifacts {path}: {e:#}");
                        return false;
                    }
                }
            }
            Step::Run { name, command, working_directory, environment, when } => {
                let runs = match when {
                    When::OnSuccess => !failed,
                    When::Always => true,
                    When::OnFail => failed,
                };
                if !runs {
                    let when = if *when == When::OnFail { "on_fail" } else { "on_success" };
                    eprintln!("==> Skipping `{name}` (when: {when})");
                    return true;
                }
                eprintln!("==> {name}");
                let dir = match working_directory {
                    Some(d) => absolutize(self.job_dir, &expand_home(d)),
                    None => self.job_dir.to_path_buf(),
                };
                return self.run(name, command, &dir, environment).await;
            }
        }
        true
    }

    /// A `run` step's command, in bash as CircleCI runs it.
    async fn run(&self, name: &str, command: &str, dir: &Path, environment: &BTreeMap<String, String>) -> bool {
        let status = tokio::process::Command::new("bash")
            .arg("-eo")
            .arg("pipefail")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .envs(self.job_env)
            .envs(environment)
            .envs(self.circle_env.iter().map(|(k, v)| (k, v)))
            .status()
            .await;
        match status {
            Ok(s) if s.success() => true,
            Ok(s) => {
                eprintln!("vitrine: `{name}` exited with code {}", exit_code(s));
                false
            }
            Err(e) => {
                eprintln!("vitrine: cannot start bash for `{name}`: {e}");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_in_both_forms() {
        let yaml = r"
version: 2.1
jobs:
  build:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run: echo hi
      - run:
          name: Tests
          command: make test
          when: always
          environment: { A: 1 }
      - store_artifacts:
          path: /tmp/x
          destination: y
      - persist_to_workspace:
          root: .
";
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), yaml).unwrap();
        let (_, steps) = load(tmp.path(), "build").unwrap();
        assert!(matches!(steps[0], Step::Checkout));
        assert!(matches!(&steps[1], Step::Run { command, when: When::OnSuccess, .. } if command == "echo hi"));
        assert!(
            matches!(&steps[2], Step::Run { name, when: When::Always, environment, .. } if name == "Tests" && environment["A"] == "1")
        );
        assert!(
            matches!(&steps[3], Step::StoreArtifacts { path, destination: Some(d) } if path == "/tmp/x" && d == "y")
        );
        assert!(matches!(&steps[4], Step::Unsupported(k) if k == "persist_to_workspace"));
        let err = load(tmp.path(), "deploy").unwrap_err().to_string();
        assert!(err.contains("jobs are: build"), "{err}");
    }
}
