//! Reading a promtail configuration file: the top level, `scrape_configs`
//! with `static_configs` (targets, labels, `__path__`, `__path_exclude__`)
//! and `pipeline_stages`, on the ruler's YAML tree with positions, so that
//! every problem names the file, line and key. Keys lokal does not run are
//! errors; the agent's own sections (`server`, `positions`, `clients`,
//! `target_config`) are accepted with a note saying what lokal does instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::pipeline::Pipeline;
use super::stages::Builder;
use crate::model::Labels;
use crate::rules::yaml::{parse_documents, Issue, Node, Reader};

/// A problem of a configuration file, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// Every problem found, in file order.
    pub issues: Vec<Issue>,
}

impl ConfigError {
    fn render(&self) -> String {
        let mut s = String::new();
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            s.push_str(&format!("{}:{}: {}", self.file, issue.pos, issue.msg));
        }
        s
    }
}

/// One `static_configs` entry of a scrape config.
#[derive(Debug)]
pub struct Target {
    /// The scrape config's `job_name`.
    pub job: String,
    /// `__path__`: a glob (doublestar: `**` crosses directories), absolute.
    pub path: String,
    /// `__path_exclude__`, absolute.
    pub exclude: Option<String>,
    /// Its labels, those starting with `__` left out (promtail drops them
    /// after relabelling).
    pub labels: Labels,
    /// Its scrape config's pipeline.
    pub pipeline: Arc<Pipeline>,
    /// `path` with its `{a,b}` alternatives expanded, each compiled.
    pub(crate) include: Vec<(String, glob::Pattern)>,
    /// `exclude`, expanded and compiled the same way.
    pub(crate) exclude_pats: Vec<(String, glob::Pattern)>,
}

/// A promtail configuration as lokal runs it.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// Every file target, in file order.
    pub targets: Vec<Target>,
    /// What lokal does with the sections it accepts but does not run.
    pub notes: Vec<String>,
}

const TOP: &[&str] = &[
    "server",
    "client",
    "clients",
    "positions",
    "scrape_configs",
    "target_config",
    "limits_config",
    "options",
    "tracing",
    "wal",
    "global",
];

const SCRAPE: &[&str] = &[
    "job_name",
    "pipeline_stages",
    "static_configs",
    "relabel_configs",
    "encoding",
    "decompression",
    "journal",
    "syslog",
    "gcplog",
    "windows_events",
    "kafka",
    "gelf",
    "cloudflare",
    "heroku_drain",
    "loki_push_api",
    "azure_event_hubs",
    "docker_sd_configs",
    "kubernetes_sd_configs",
    "consul_sd_configs",
    "consulagent_sd_configs",
    "file_sd_configs",
    "limits_config",
];

/// promtail's `-config.expand-env` (drone/envsubst): `${VAR}` and `$VAR`
/// become the variable's value (empty when unset), `${VAR:-default}` the
/// default when it is unset or empty, `${VAR-default}` when it is unset, and
/// `${VAR:?message}` is an error when it is unset or empty. Any other `$`
/// stays as it is.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let name_len = |s: &str| {
        s.char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(s.len(), |(i, _)| i)
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let Some(close) = body.find('}') else {
                out.push('$');
                rest = after;
                continue;
            };
            let inner = &body[..close];
            let n = name_len(inner);
            let (name, op) = (&inner[..n], &inner[n..]);
            let value = lookup(name);
            let expanded = if op.is_empty() {
                value.unwrap_or_default()
            } else if let Some(d) = op.strip_prefix(":-") {
                value
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| d.to_string())
            } else if let Some(d) = op.strip_prefix('-') {
                value.unwrap_or_else(|| d.to_string())
            } else if let Some(msg) = op.strip_prefix(":?") {
                match value.filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => return Err(format!("${{{name}}}: {msg}")),
                }
            } else {
                return Err(format!("${{{inner}}}: lokal expands ${{VAR}}, ${{VAR:-default}}, ${{VAR-default}} and ${{VAR:?message}}"));
            };
            out.push_str(&expanded);
            rest = &body[close + 1..];
        } else {
            let n = name_len(after);
            if n == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..n]).unwrap_or_default());
            }
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl Config {
    /// Reads and checks `path`; `cwd` makes relative `__path__`s absolute;
    /// `expand_env`: replace `${VAR}` references first ([`expand_env`]).
    pub fn load(path: &Path, cwd: &Path, expand: bool) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let fail = |msg: String| ConfigError {
            file: file.clone(),
            issues: vec![Issue {
                pos: Default::default(),
                msg,
            }],
        };
        let mut text =
            std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        if expand {
            text = expand_env(&text, |k| std::env::var(k).ok()).map_err(fail)?;
        }
        Config::parse(&text, &file, cwd)
    }

    /// Reads a configuration's text; `file` names it in messages.
    pub fn parse(text: &str, file: &str, cwd: &Path) -> Result<Config, ConfigError> {
        let fail = |issues| ConfigError {
            file: file.to_string(),
            issues,
        };
        let docs = parse_documents(text).map_err(|i| fail(vec![i]))?;
        let mut r = Reader::default();
        let mut cfg = Config {
            file: PathBuf::from(file),
            targets: Vec::new(),
            notes: Vec::new(),
        };
        let Some(Some(root)) = docs.first() else {
            return Err(fail(vec![Issue {
                pos: Default::default(),
                msg: "the file is empty: a promtail config needs scrape_configs".into(),
            }]));
        };
        let top = r.fields(root, "a promtail config", TOP);
        for key in ["limits_config", "options", "tracing", "wal", "global"] {
            if let Some((k, _)) = top.entry(key) {
                r.issues.push(Issue {
                    pos: k.pos,
                    msg: format!(
                        "{key:?} is a setting of the running promtail agent, which lokal does not \
                         run; remove it (lokal's limits are ingest's flags)"
                    ),
                });
            }
        }
        if top.entry("positions").is_some() {
            cfg.notes.push(
                "positions: lokal keeps read positions in the store, committed with the data, \
                 so this positions file is neither read nor written"
                    .into(),
            );
        }
        if top.entry("clients").is_some() || top.entry("client").is_some() {
            cfg.notes.push(
                "clients: lokal stores entries locally; send them to a Loki with `lokal push --addr URL`"
                    .into(),
            );
        }
        if top.entry("server").is_some() {
            cfg.notes
                .push("server: lokal runs no agent HTTP server while ingesting".into());
        }
        if top.entry("target_config").is_some() {
            cfg.notes
                .push("target_config: each ingest run expands the __path__ globs once".into());
        }
        let scrapes = r.seq(top.get("scrape_configs"), "scrape_configs");
        if top.get("scrape_configs").is_none() {
            r.issues.push(Issue {
                pos: root.pos,
                msg: "no scrape_configs: nothing to read".into(),
            });
        }
        for sc in scrapes {
            read_scrape(&mut r, sc, cwd, &mut cfg);
        }
        if !r.issues.is_empty() {
            r.issues.sort_by_key(|i| i.pos);
            return Err(fail(r.issues));
        }
        Ok(cfg)
    }
}

fn read_scrape(r: &mut Reader, sc: &Node, cwd: &Path, cfg: &mut Config) {
    let f = r.fields(sc, "a scrape config", SCRAPE);
    for key in &SCRAPE[3..] {
        if let Some((k, _)) = f.entry(key) {
            let why = match *key {
                "relabel_configs" => {
                    "relabel_configs are not run by lokal; set labels in static_configs or with \
                     the labels/static_labels/labeldrop stages"
                }
                "encoding" => "lokal reads files as UTF-8 (other bytes are kept as they are)",
                "decompression" => "lokal decompresses .gz and .zst files by their name",
                _ => "lokal reads files only: use static_configs with __path__",
            };
            r.issues.push(Issue {
                pos: k.pos,
                msg: format!("{key:?} is not supported: {why}"),
            });
        }
    }
    let job = r.string(f.get("job_name"), "job_name").unwrap_or_default();
    if job.is_empty() {
        r.issues.push(Issue {
            pos: sc.pos,
            msg: "a scrape config needs a job_name".into(),
        });
    }
    let stages = Builder { reader: r }.stages(f.get("pipeline_stages"), "pipeline_stages");
    let pipeline = Arc::new(Pipeline::new(stages));
    for st in r.seq(f.get("static_configs"), "static_configs") {
        let sf = r.fields(st, "a static config", &["targets", "labels"]);
        let _ = r.seq(sf.get("targets"), "targets");
        let mut path = None;
        let mut exclude = None;
        let mut labels = Vec::new();
        for e in r.string_map(sf.get("labels"), "labels") {
            match e.key.as_str() {
                "__path__" => path = Some((e.value, e.value_pos)),
                "__path_exclude__" => exclude = Some((e.value, e.value_pos)),
                k if k.starts_with("__") => {}
                _ => {
                    if !crate::model::is_valid_label_name(&e.key) {
                        r.issues.push(Issue {
                            pos: e.key_pos,
                            msg: format!("invalid label name {:?}", e.key),
                        });
                    }
                    labels.push((e.key, e.value));
                }
            }
        }
        let Some((path, ppos)) = path.filter(|(p, _)| !p.is_empty()) else {
            r.issues.push(Issue {
                pos: st.pos,
                msg: "a static config needs a __path__ label (the files to read)".into(),
            });
            continue;
        };
        let abs = |p: &str| {
            let pb = Path::new(p);
            if pb.is_absolute() {
                p.to_string()
            } else {
                cwd.join(pb).display().to_string()
            }
        };
        let path = abs(&path);
        let include = globs(r, ppos, "__path__", &path);
        let exclude = exclude.map(|(x, xpos)| (abs(&x), xpos));
        let exclude_pats = match &exclude {
            Some((x, xpos)) => globs(r, *xpos, "__path_exclude__", x),
            None => Vec::new(),
        };
        let exclude = exclude.map(|(x, _)| x);
        cfg.targets.push(Target {
            job: job.clone(),
            path,
            exclude,
            labels: Labels::from_pairs(labels),
            pipeline: pipeline.clone(),
            include,
            exclude_pats,
        });
    }
}

/// A `__path__`-style glob as doublestar reads it: `{a,b}` alternatives
/// (nested too) expanded into plain globs, each compiled; a problem is an
/// issue at `pos`.
fn globs(
    r: &mut Reader,
    pos: crate::rules::yaml::Pos,
    what: &str,
    glob: &str,
) -> Vec<(String, glob::Pattern)> {
    let mut out = Vec::new();
    for g in expand_braces(glob) {
        match glob::Pattern::new(&g) {
            Ok(p) => out.push((g, p)),
            Err(e) => {
                r.issues.push(Issue {
                    pos,
                    msg: format!("{what} {glob:?}: bad glob: {e}"),
                });
                return Vec::new();
            }
        }
    }
    out
}

/// `{a,b}` alternatives expanded, the first group first: `x{a,b{c,d}}` is
/// `xa`, `xbc`, `xbd`. A `{` without its `}` is kept as it is.
pub(crate) fn expand_braces(glob: &str) -> Vec<String> {
    let b = glob.as_bytes();
    let Some(open) = b.iter().position(|&c| c == b'{') else {
        return vec![glob.to_string()];
    };
    // The matching close and the top-level commas between.
    let mut depth = 0;
    let mut commas = Vec::new();
    let mut close = None;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![glob.to_string()];
    };
    let (head, tail) = (&glob[..open], &glob[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &glob[w[0] + 1..w[1]];
        out.extend(expand_braces(&format!("{head}{alt}{tail}")));
    }
    out
}

/// doublestar's matching: `*` and `?` stay within a path component.
pub(crate) fn glob_matches(p: &glob::Pattern, path: &str) -> bool {
    p.matches_with(
        path,
        glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        },
    )
}
