//! Arbitrary text as a `[[promoter]]` section: parsing, validation (start lists, units, OCF
//! agents) and the deprecation checks never panic, every finding names a key of a resource
//! that exists, and the same section twice reports each of its resources as a duplicate.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run promoter_config -O -s none corpus/promoter_config`.
#![no_main]

use drbd_reactor_promoter::config::{deprecation_warnings, duplicate_resources, validate};
use drbd_reactor_promoter::PromoterConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = toml::from_str::<PromoterConfig>(&text) else {
        return;
    };
    let (errors, warnings) = validate(&config);
    for finding in errors
        .iter()
        .chain(&warnings)
        .chain(&deprecation_warnings(&config))
    {
        let key = &finding.key;
        let named = key == "id"
            || config.resources.keys().any(|r| {
                let at = format!("resources.{r}");
                *key == at || key.starts_with(&format!("{at}."))
            });
        assert!(named, "{} names no configured resource", key);
    }
    for (_, res) in config.resources.iter() {
        let _ = res.effective_stop();
    }
    let duplicates = duplicate_resources(&[&config, &config]);
    assert_eq!(duplicates.len(), config.resources.len(), "{duplicates:?}");
    assert!(
        duplicates.iter().all(|(index, _)| *index == 1),
        "{duplicates:?}"
    );
});
