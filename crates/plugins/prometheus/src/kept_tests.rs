//! The tests of `kept.rs`: where pieces live, how they are split and renewed.

use super::*;
use drbd_reactor_plugin::memory::stand_in::{self, good_size, live, made_here};

fn addr(k: &Kept) -> usize {
    k.head.expect("not empty").as_ptr() as usize
}

fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn kept_bytes_live_in_their_region_with_their_header_until_the_last_copy_goes() {
    stand_in::register();
    let t = b"drbd_resource_role{name=\"r0\"} 1\n";
    let a = keep(t, Region::Plain);
    let b = keep(b"\x1f\x8b", Region::Gzip);
    assert_eq!(a.to_vec(), t);
    assert_eq!(b.to_vec(), b"\x1f\x8b");
    assert_eq!(
        live(addr(&a)),
        Some((0, HEADER + t.len())),
        "one allocation, exact"
    );
    assert_eq!(live(addr(&b)), Some((1, HEADER + 2)));
    let (at, copy) = (addr(&a), a.clone());
    assert!(copy.same(&a));
    drop(a);
    assert!(live(at).is_some(), "a clone keeps it");
    let sent = copy.part_bytes(0);
    drop(copy);
    assert_eq!(&sent[..], t, "a Bytes made of it keeps it too");
    assert_eq!(sent.as_ptr() as usize, at + HEADER, "without a copy");
    assert!(live(at).is_some());
    drop(sent);
    assert_eq!(
        live(at),
        None,
        "freed in its region with the last reference"
    );
    let bt = addr(&b);
    drop(b);
    assert_eq!(live(bt), None);
    assert!(keep(b"", Region::Plain).is_empty());
    assert!(keep(b"", Region::Plain).part_bytes(0).is_empty());
}

#[test]
fn a_piece_that_would_waste_much_of_its_size_class_is_kept_in_two_parts() {
    stand_in::register();
    // 9,000 bytes and the header take a 10,240-byte class alone; 8,192 + 1,024 in two.
    let t = text(9000);
    let k = keep(&t, Region::Plain);
    let [a, b] = k.parts();
    assert_eq!(
        HEADER + a.len(),
        8192,
        "the first part fills a class exactly"
    );
    assert_eq!(good_size(HEADER + a.len()), HEADER + a.len());
    assert_eq!(a.len() + b.len(), 9000);
    assert_eq!(k.len(), 9000);
    assert_eq!(k.to_vec(), t, "the bytes, in order");
    let second = b.as_ptr() as usize;
    assert_eq!(
        live(second),
        Some((0, good_size(b.len()))),
        "the second part in the same region, a whole class"
    );
    let (sa, sb) = (k.part_bytes(0), k.part_bytes(1));
    assert_eq!([&sa[..], &sb[..]].concat(), t);
    assert_eq!(sb.as_ptr() as usize, second, "sent without a copy");
    let head = addr(&k);
    drop((k, sa));
    assert!(live(second).is_some(), "a sent part keeps the piece");
    drop(sb);
    assert_eq!((live(head), live(second)), (None, None), "both parts freed");
    // A piece whose class wastes little, or a small one, stays whole.
    for len in [8192 - HEADER, 100, 1] {
        let k = keep(&text(len), Region::Gzip);
        assert!(
            k.parts()[1].is_empty(),
            "{len} bytes stay in one allocation"
        );
    }
    // Global copies are never split.
    assert!(Kept::copy(&t).parts()[1].is_empty());
}

#[test]
fn splits_are_taken_only_when_they_save_and_fill_a_class() {
    for total in (HEADER + 1..70_000).step_by(37) {
        let one = good_size(total);
        match split_at(total, good_size) {
            None => {}
            Some(first) => {
                assert!(first < total && first > HEADER, "{total}: {first}");
                assert_eq!(
                    good_size(first),
                    first,
                    "{total}: the first part fills its class"
                );
                assert!(
                    first + good_size(total - first) + SPLIT_GAIN <= one,
                    "{total}"
                );
            }
        }
    }
    assert_eq!(split_at(8192, good_size), None, "a class exactly");
    assert_eq!(split_at(9024, good_size), Some(8192));
    assert_eq!(split_at(9024, |n| n), None, "an allocator without classes");
}

/// The region and size of each allocation of `k`.
fn allocations(k: &Kept) -> Vec<(usize, usize)> {
    let [_, b] = k.parts();
    let mut v = vec![live(addr(k)).expect("first part live")];
    if !b.is_empty() {
        v.push(live(b.as_ptr() as usize).expect("second part live"));
    }
    v
}

/// What a fresh copy of `len` bytes takes in region 0.
fn fresh(len: usize) -> Vec<(usize, usize)> {
    let (a, b) = shape(HEADER + len, good_size);
    std::iter::once((0, a)).chain(b.map(|b| (0, b))).collect()
}

#[test]
fn an_unshared_piece_is_renewed_in_place_while_its_size_classes_stay() {
    stand_in::register();
    // Split: 8,192 + 832 bytes (a 896-byte class); 10 more bytes stay in that class.
    let k = keep(&text(9000), Region::Plain);
    let (head, second) = (addr(&k), k.parts()[1].as_ptr() as usize);
    let made = made_here();
    let k = k.renew(&text(9010)[1..], Region::Plain);
    assert_eq!(made_here(), made, "nothing allocated");
    assert_eq!(k.to_vec(), &text(9010)[1..], "the new bytes");
    assert_eq!(
        (addr(&k), k.parts()[1].as_ptr() as usize),
        (head, second),
        "written over both parts"
    );
    assert_eq!(allocations(&k), fresh(9009), "what a fresh copy takes");
    // Whole: 100 bytes and the header take a 128-byte class, and so do 104.
    let w = keep(&text(100), Region::Plain);
    let at = addr(&w);
    let w = w.renew(&text(104), Region::Plain);
    assert_eq!((addr(&w), w.to_vec()), (at, text(104)));
    assert_eq!(allocations(&w), fresh(104));
    // Into another class: a fresh copy, of the new classes, with the new bytes.
    for (k, len) in [
        (k, 9200),
        (w, 120),
        (keep(&text(9000), Region::Plain), 8000),
    ] {
        let made = made_here();
        let k = k.renew(&text(len), Region::Plain);
        assert!(made_here() > made, "{len} bytes: allocated anew");
        assert_eq!(k.to_vec(), text(len));
        assert_eq!(allocations(&k), fresh(len), "{len} bytes");
    }
}

#[test]
fn a_shared_piece_is_never_written_over() {
    stand_in::register();
    let k = keep(&text(9000), Region::Plain);
    let held = k.clone();
    let sent = k.part_bytes(1);
    let before = sent.to_vec();
    let k = k.renew(&text(9001)[1..], Region::Plain);
    assert!(!k.same(&held), "a copy of its own");
    assert_eq!(k.to_vec(), &text(9001)[1..]);
    assert_eq!(held.to_vec(), text(9000), "the holder's bytes stayed");
    assert_eq!(sent.to_vec(), before, "and the sent part's");
    // Nor is a piece of another region, a global copy or the empty piece.
    let g = keep(&text(100), Region::Gzip).renew(&text(100), Region::Plain);
    assert_eq!(allocations(&g), vec![(0, good_size(HEADER + 100))]);
    let c = Kept::copy(&text(100)).renew(&text(100), Region::Plain);
    assert_eq!(allocations(&c), vec![(0, good_size(HEADER + 100))]);
    assert_eq!(Kept::default().renew(b"x", Region::Gzip).to_vec(), b"x");
    assert!(keep(b"x", Region::Gzip).renew(b"", Region::Gzip).is_empty());
}

#[test]
fn renewals_keep_the_bytes_and_take_what_fresh_copies_would() {
    stand_in::register();
    // A poll moves a chunk's length a little, sometimes across a class.
    let mut len = 9000usize;
    let mut k = keep(&text(len), Region::Plain);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut in_place = 0;
    for round in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        len = (len as i64 + (seed % 41) as i64 - 16).clamp(1, 40_000) as usize;
        let t: Vec<u8> = text(len + round % 26)[round % 26..].to_vec();
        let made = made_here();
        k = k.renew(&t, Region::Plain);
        in_place += usize::from(made_here() == made);
        assert_eq!(k.to_vec(), t, "round {round}");
        assert_eq!(allocations(&k), fresh(len), "round {round}: {len} bytes");
    }
    assert!(in_place > 1000, "most renewals in place: {in_place}");
}

#[test]
fn copies_live_in_the_global_allocator_and_are_shared_across_threads() {
    let k = Kept::copy(b"# HELP drbd_resource_role\n");
    assert_eq!(live(addr(&k)), None, "not in a region");
    let clones: Vec<Kept> = (0..8).map(|_| k.clone()).collect();
    let handles: Vec<_> = clones
        .into_iter()
        .map(|c| std::thread::spawn(move || c.len()))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 26);
    }
    assert_eq!(k.to_vec(), b"# HELP drbd_resource_role\n");
    assert_eq!(
        k,
        Kept::copy(b"# HELP drbd_resource_role\n"),
        "equal by content"
    );
    assert!(!k.same(&Kept::copy(&k.to_vec())));
    assert_eq!(
        std::mem::size_of::<Kept>(),
        8,
        "one pointer where pieces are listed"
    );
    assert!(Kept::default().is_empty());
}
