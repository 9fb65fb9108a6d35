//! The contract: what a plugin type declares ([`Plugin`]), what each run of an instance gets
//! ([`PluginContext`]), how a run ends ([`PluginError`]), and the type-erased form the host
//! keeps ([`AnyPlugin`], made by one [`register`] line per type).
//!
//! Must never: let the host look inside a config (it compares, runs and stops them through
//! this trait only).

use crate::metrics::SelfMetrics;
use crate::snapshot::Snapshots;
use crate::updates::Updates;
use crate::versions::VersionsService;
use drbd_reactor_config::{ConfigError, Located, PluginInstance, PluginKind, Strictness};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a run may take to stop unless its type says otherwise.
pub const DEFAULT_STOP_DEADLINE: Duration = Duration::from_secs(10);

/// What a plugin reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Change plugins (debugger, umh, promoter): the replay of the current state as `Exists`,
    /// then every live update, through a bounded queue.
    Updates,
    /// State readers (prometheus, agentx): a [`Snapshot`] of the current state, asked of the
    /// core when they need one; no updates, and never cut off for lag.
    State,
}

/// How a run ended when it did not end well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// The configuration cannot work (e.g. a file it names is missing). Reported once; the
    /// instance is not restarted until a reload changes it.
    Config(String),
    /// The run failed; the host restarts it alone, with backoff.
    Failed(String),
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginError::Config(m) => write!(f, "configuration error: {m}"),
            PluginError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PluginError {}

/// A finding of [`Plugin::check`]: the key it concerns (a path inside the section, e.g.
/// `resources.r0.start[1]`) and what is wrong. The host adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub key: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            key: Some(key.into()),
            message: message.into(),
        }
    }
}

/// Everything a run gets.
pub struct PluginContext {
    /// Change plugins' updates; for state readers a stream that only ends.
    pub updates: Updates,
    /// State readers' snapshots, asked for when needed (`None` for change plugins).
    pub snapshots: Option<Snapshots>,
    /// The self-metrics list, to read (prometheus) or to add counters to.
    pub metrics: Arc<SelfMetrics>,
    /// The DRBD versions, probed by one shared task.
    pub versions: VersionsService,
    /// Turns true when the host stops this run (reload, removal, daemon stop), before the
    /// update stream ends. Updates that end while it is still false mean a resynchronisation:
    /// the run fell behind, and a new run with the current state replayed starts once this
    /// one has ended (at once the first time; an instance that falls behind again and again
    /// waits longer each time, unless [`Plugin::RESYNC_AT_ONCE`]); it should end without the
    /// actions of a stop (the promoter keeps its services running).
    pub shutdown: watch::Receiver<bool>,
}

impl PluginContext {
    /// A state reader's end of the snapshot cell.
    pub fn take_snapshots(&mut self) -> Result<Snapshots, PluginError> {
        self.snapshots
            .take()
            .ok_or_else(|| PluginError::Failed("no state snapshots for this plugin".into()))
    }
}

/// A plugin type. Implement it in the plugin's folder and add `register::<YourType>()` to the
/// daemon's registry; the section name comes from [`PluginKind`].
pub trait Plugin: Send + Sync + 'static {
    /// The `[[section]]` this type reads.
    const KIND: PluginKind;
    /// Whether unknown keys are warnings (compatible) or errors (where a typo would widen
    /// what the plugin does, as in umh rules).
    const STRICTNESS: Strictness = Strictness::WarnUnknownKeys;
    const INPUT: Input;
    /// Instances of this type must not overlap with their replacements: after a reload, a new
    /// instance starts only once every stopping instance of the type has stopped (the
    /// promoter: two must never act on one resource; prometheus and agentx: one address, one
    /// registration). Others (debugger, umh) start their new instances at once, so they miss
    /// no update while an old one finishes its work.
    const SERIAL: bool = false;
    /// A run that fell behind is always resynchronised at once, never after a growing delay:
    /// for a plugin that must not go blind (the promoter: services kept running across a
    /// resynchronisation are unmanaged until the new run starts).
    const RESYNC_AT_ONCE: bool = false;
    /// The typed section after defaults. Equal configs are the same instance: a reload keeps
    /// it running untouched.
    type Config: Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync + 'static;

    /// Checks beyond the types: warnings, or the first error.
    fn check(_config: &Self::Config) -> Result<Vec<Finding>, Finding> {
        Ok(Vec::new())
    }

    /// How long a run may take to stop once told to (promoter: its services' stop timeout).
    fn stop_deadline(_config: &Self::Config) -> Duration {
        DEFAULT_STOP_DEADLINE
    }

    /// Checks across all instances of this type (e.g. one resource in two promoters):
    /// (index of the offending instance, what is wrong). Any finding refuses the config.
    fn check_together(_configs: &[&Self::Config]) -> Vec<(usize, Finding)> {
        Vec::new()
    }

    /// After every (re)configuration, with every configured instance of this type (none if
    /// the type is no longer configured). Runs in its own task: it may do I/O, e.g. delete
    /// the files of instances that are gone.
    fn after_reconfigure(_configs: Vec<Self::Config>) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Adds this type's self-metrics at daemon start (so they exist, at 0, before any run).
    fn register_metrics(_metrics: &SelfMetrics) {}

    /// Unit files this instance generates that an operator or a tool may rewrite (the
    /// promoter's `drbd-services@RES.target.d/reactor.conf`), with the content it writes:
    /// the daemon's monitor warns while one is newer than the last (re)load and differs from
    /// that content (daemon spec §9; the instance writes them after the (re)load itself).
    fn generated_units(_config: &Self::Config) -> Vec<(std::path::PathBuf, String)> {
        Vec::new()
    }

    /// One run of an instance, until `ctx.shutdown` turns true (a stop) or its updates end
    /// (with `ctx.shutdown` still false: a resynchronisation, see [`PluginContext::shutdown`]).
    fn run(
        config: Self::Config,
        ctx: PluginContext,
    ) -> impl Future<Output = Result<(), PluginError>> + Send + 'static;
}

pub type RunFuture = Pin<Box<dyn Future<Output = Result<(), PluginError>> + Send>>;

/// A configured instance of some plugin type, as the host keeps it.
pub trait AnyPlugin: Send + Sync + Debug + 'static {
    fn kind(&self) -> PluginKind;
    fn input(&self) -> Input;
    /// See [`Plugin::SERIAL`].
    fn serial(&self) -> bool;
    /// See [`Plugin::RESYNC_AT_ONCE`].
    fn resync_at_once(&self) -> bool;
    fn stop_deadline(&self) -> Duration;
    /// See [`Plugin::generated_units`].
    fn generated_units(&self) -> Vec<(std::path::PathBuf, String)>;
    /// Same type and equal config.
    fn same_config(&self, other: &dyn AnyPlugin) -> bool;
    fn run(&self, ctx: PluginContext) -> RunFuture;
    /// The effective configuration as a one-element `[[kind]]` array (SIGUSR1 dump).
    fn to_toml(&self) -> Result<String, String>;
    fn as_any(&self) -> &dyn Any;
}

impl PartialEq for dyn AnyPlugin {
    fn eq(&self, other: &Self) -> bool {
        self.same_config(other)
    }
}

struct Typed<P: Plugin>(P::Config, PhantomData<fn() -> P>);

impl<P: Plugin> Debug for Typed<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[[{}]] {:?}", P::KIND, self.0)
    }
}

impl<P: Plugin> AnyPlugin for Typed<P> {
    fn kind(&self) -> PluginKind {
        P::KIND
    }
    fn input(&self) -> Input {
        P::INPUT
    }
    fn serial(&self) -> bool {
        P::SERIAL
    }
    fn resync_at_once(&self) -> bool {
        P::RESYNC_AT_ONCE
    }
    fn stop_deadline(&self) -> Duration {
        P::stop_deadline(&self.0)
    }
    fn generated_units(&self) -> Vec<(std::path::PathBuf, String)> {
        P::generated_units(&self.0)
    }
    fn same_config(&self, other: &dyn AnyPlugin) -> bool {
        other
            .as_any()
            .downcast_ref::<Typed<P>>()
            .is_some_and(|o| o.0 == self.0)
    }
    fn run(&self, ctx: PluginContext) -> RunFuture {
        Box::pin(P::run(self.0.clone(), ctx))
    }
    fn to_toml(&self) -> Result<String, String> {
        let value = toml::Value::try_from(&self.0).map_err(|e| e.to_string())?;
        let mut table = toml::Table::new();
        table.insert(P::KIND.as_str().into(), toml::Value::Array(vec![value]));
        toml::to_string_pretty(&table).map_err(|e| e.to_string())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

type ParseFn = fn(&PluginInstance) -> Result<(Arc<dyn AnyPlugin>, Vec<Located>), ConfigError>;
type TogetherFn = fn(&[&dyn AnyPlugin]) -> Vec<(usize, Finding)>;
type AfterFn = fn(Vec<Arc<dyn AnyPlugin>>) -> RunFuture;

/// One plugin type in the daemon's registry.
#[derive(Clone, Copy)]
pub struct Registration {
    pub kind: PluginKind,
    /// Section → typed instance, with located warnings; errors name file, line and key.
    pub parse: ParseFn,
    /// [`Plugin::check_together`] over the instances of this type.
    pub check_together: TogetherFn,
    /// [`Plugin::after_reconfigure`] with the instances of this type.
    pub after_reconfigure: AfterFn,
    pub register_metrics: fn(&SelfMetrics),
}

/// The registry line of plugin type `P`.
pub const fn register<P: Plugin>() -> Registration {
    Registration {
        kind: P::KIND,
        parse: parse::<P>,
        check_together: check_together::<P>,
        after_reconfigure: after_reconfigure::<P>,
        register_metrics: P::register_metrics,
    }
}

fn typed<P: Plugin>(p: &dyn AnyPlugin) -> Option<&P::Config> {
    p.as_any().downcast_ref::<Typed<P>>().map(|t| &t.0)
}

fn check_together<P: Plugin>(instances: &[&dyn AnyPlugin]) -> Vec<(usize, Finding)> {
    let configs: Vec<&P::Config> = instances.iter().filter_map(|p| typed::<P>(*p)).collect();
    P::check_together(&configs)
}

fn after_reconfigure<P: Plugin>(instances: Vec<Arc<dyn AnyPlugin>>) -> RunFuture {
    let configs: Vec<P::Config> = instances
        .iter()
        .filter_map(|p| typed::<P>(&**p).cloned())
        .collect();
    Box::pin(async move {
        P::after_reconfigure(configs).await;
        Ok(())
    })
}

fn parse<P: Plugin>(
    section: &PluginInstance,
) -> Result<(Arc<dyn AnyPlugin>, Vec<Located>), ConfigError> {
    let (config, warnings) = typed_section::<P>(section)?;
    Ok((Arc::new(Typed::<P>(config, PhantomData)), warnings))
}

/// Parses and checks `section` exactly as the daemon does for plugin type `P`, without making
/// an instance: for tools that validate a snippet (drbd-reactorctl's `edit`). The warnings,
/// or the first error, located (file, line, key).
pub fn validate<P: Plugin>(section: &PluginInstance) -> Result<Vec<Located>, ConfigError> {
    typed_section::<P>(section).map(|(_, warnings)| warnings)
}

fn typed_section<P: Plugin>(
    section: &PluginInstance,
) -> Result<(P::Config, Vec<Located>), ConfigError> {
    let (config, mut warnings) = section.parse::<P::Config>(P::STRICTNESS)?;
    let locate = |f: Finding| Located {
        origin: match &f.key {
            Some(k) => section.origin_of(k),
            None => section.origin.clone(),
        },
        key: f.key,
        message: format!("[[{}]]: {}", P::KIND, f.message),
    };
    match P::check(&config) {
        Ok(found) => warnings.extend(found.into_iter().map(locate)),
        Err(f) => {
            let l = locate(f);
            return Err(
                ConfigError::at(l.origin, l.key, l.message).with_source_text(&section.source_text)
            );
        }
    }
    Ok((config, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
    #[serde(rename_all = "kebab-case")]
    struct EchoConfig {
        #[serde(default)]
        word: String,
    }

    struct Echo;
    impl Plugin for Echo {
        const KIND: PluginKind = PluginKind::Debugger;
        const INPUT: Input = Input::Updates;
        type Config = EchoConfig;
        fn check(c: &EchoConfig) -> Result<Vec<Finding>, Finding> {
            match c.word.as_str() {
                "bad" => Err(Finding::at("word", "must not be bad")),
                "odd" => Ok(vec![Finding::at("word", "is odd")]),
                _ => Ok(vec![]),
            }
        }
        fn stop_deadline(_: &EchoConfig) -> Duration {
            Duration::from_secs(30)
        }
        async fn run(_: EchoConfig, _: PluginContext) -> Result<(), PluginError> {
            Ok(())
        }
    }

    fn section(text: &str) -> (tempfile_free::Dir, PluginInstance) {
        let dir = tempfile_free::Dir::new();
        let path = dir.0.join("r.toml");
        std::fs::write(&path, text).unwrap();
        let config = drbd_reactor_config::load(&path).unwrap();
        (dir, config.plugins[0].clone())
    }

    /// A scratch directory without another dev-dependency.
    mod tempfile_free {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "plugin-api-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_registered_type_parses_compares_and_dumps_its_instances() {
        let reg = register::<Echo>();
        let (_d, a) = section("[[debugger]]\nword = \"x\"\n");
        let (_e, b) = section("\n\n[[debugger]]\nword = \"x\"\n");
        let (pa, _) = (reg.parse)(&a).unwrap();
        let (pb, _) = (reg.parse)(&b).unwrap();
        assert!(
            *pa == *pb,
            "same config in another place is the same instance"
        );
        assert_eq!(pa.stop_deadline(), Duration::from_secs(30));
        assert_eq!(pa.to_toml().unwrap(), "[[debugger]]\nword = \"x\"\n");
    }

    #[test]
    fn check_errors_and_warnings_are_located_at_their_key() {
        let reg = register::<Echo>();
        let (_d, s) = section("[[debugger]]\n\nword = \"bad\"\n");
        let err = (reg.parse)(&s).unwrap_err().to_string();
        assert!(
            err.lines()
                .next()
                .unwrap()
                .ends_with("r.toml:3:1: key 'word': [[debugger]]: must not be bad"),
            "{err}"
        );
        let (_d, s) = section("[[debugger]]\nword = \"odd\"\n");
        let (_, warnings) = (reg.parse)(&s).unwrap();
        assert_eq!(warnings[0].origin.line, 2);
        assert_eq!(warnings[0].key.as_deref(), Some("word"));
    }
}
