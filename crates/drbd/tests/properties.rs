//! Property tests: any line prints and parses back to itself, also into a reused line; random object histories,
//! printed, parsed and applied, equal a simple independent model; reconciling any state
//! with the dump of a target state gives the target state, and the updates it emits turn
//! the old view of matchable fields into the new one.

#[path = "support/model.rs"]
mod model;
#[path = "support/strategies.rs"]
mod strategies;

use drbd::event::EventType;
use drbd::{parse_line, PluginUpdate, State};
use model::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use strategies::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_line_prints_and_parses_back_to_itself(line in any_line()) {
        let printed = line.to_string();
        prop_assert_eq!(parse_line(&printed), Ok(line), "{}", printed);
    }

    /// A reader reuses one line's buffers for the next (any kind after any kind): nothing
    /// of the earlier line may leak into the later one.
    #[test]
    fn parsing_into_a_reused_line_equals_parsing_afresh(
        lines in prop::collection::vec(any_line(), 1..12)
    ) {
        let mut reused = drbd::Line::new(None, drbd::Event::EndOfDump);
        for line in lines {
            let printed = line.to_string();
            drbd::parse_line_into(&printed, &mut reused).unwrap();
            prop_assert_eq!(&reused, &line, "{}", printed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_histories_printed_parsed_and_applied_equal_the_model(h in history()) {
        let mut state = State::new();
        let mut model = BTreeMap::new();
        let mut out = Vec::new();
        for (event_type, object) in &h {
            apply_printed(&mut state, &[(*event_type, object.clone())], &mut out);
            model_apply(&mut model, *event_type, object);
            // Every update carries the resource as it is now (or was, for a resource destroy).
            for u in out.drain(..) {
                if let PluginUpdate::Object(o) = u {
                    if let Some(r) = state.resource(o.resource_name()) {
                        prop_assert_eq!(&*o.resource, &**r);
                    } else {
                        prop_assert_eq!(o.event_type, EventType::Destroy);
                    }
                }
            }
        }
        prop_assert_eq!(state_resources(&state), model_resources(&model));
    }

    #[test]
    fn reconciling_any_history_with_a_new_dump_equals_replaying_the_dump(
        before in history(),
        target in history(),
    ) {
        let mut old = State::new();
        let mut ignored = Vec::new();
        apply_printed(&mut old, &before, &mut ignored);
        let mut target_state = State::new();
        apply_printed(&mut target_state, &target, &mut ignored);

        // The new drbdsetup's dump, printed and parsed.
        let mut fresh = State::new();
        for line in target_state.dump() {
            fresh.apply(parse_line(&line.to_string()).unwrap().event, &mut ignored);
        }
        prop_assert_eq!(&fresh, &target_state);

        let old_view = view(&old);
        let mut updates = Vec::new();
        old.reconcile(fresh, &mut updates);
        prop_assert_eq!(&old, &target_state);
        let mut v = old_view;
        let applied = apply_updates(&mut v, &updates);
        prop_assert!(applied.is_ok(), "{:?}", applied);
        prop_assert_eq!(v, view(&target_state));
    }

    #[test]
    fn reconciling_a_state_with_its_own_dump_emits_nothing(h in history()) {
        let mut s = State::new();
        let mut out = Vec::new();
        apply_printed(&mut s, &h, &mut out);
        let mut fresh = State::new();
        for line in s.dump() {
            fresh.apply(line.event, &mut out);
        }
        let mut updates = Vec::new();
        let before = s.clone();
        s.reconcile(fresh, &mut updates);
        prop_assert!(updates.is_empty(), "{:?}", updates);
        prop_assert_eq!(s, before);
    }
}
