//! How fast a correspondent node reads and validates Binding Updates.
//!
//! `cargo bench -p gecko --bench wire`; criterion prints each case's time per
//! message and its throughput in messages per second (one core: the bench is
//! single-threaded).

// criterion_group! makes a public function without docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::Ipv6Addr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gecko::mipv6::binding_update;
use gecko::mipv6::rr::{BindingKey, CorrespondentKeys, Kcn, NonceTable, NonceTableConfig};
use gecko::mipv6::seq::SeqNum;
use gecko::mipv6::wire::{fill_checksum, BuFlags, Message, MobilityOption, Packet, Repr};

struct Fixture {
    keys: CorrespondentKeys,
    key: BindingKey,
    care_of: Ipv6Addr,
    now: Instant,
    home: Ipv6Addr,
    cn: Ipv6Addr,
    bu: Vec<u8>,
}

/// A correspondent after return routability, and the BU the mobile node
/// then sends it: Nonce Indices, Alternate Care-of Address, Binding
/// Authorization Data (what Gecko's handoff sends).
fn fixture() -> Fixture {
    let now = Instant::now();
    let home: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
    let care_of: Ipv6Addr = "2001:db8:1:2::2".parse().unwrap();
    let cn: Ipv6Addr = "2001:db8:2:1::2".parse().unwrap();
    let mut keys = CorrespondentKeys::new(
        Kcn::generate(),
        NonceTable::new(NonceTableConfig::default()).unwrap(),
    );
    let (home_nonce, home_token) = keys.home_test(&home, now);
    let (care_of_nonce, care_of_token) = keys.care_of_test(&care_of, now);
    let key = BindingKey::from_tokens(&home_token, Some(&care_of_token));
    let repr = Repr {
        message: Message::BindingUpdate {
            sequence: 42,
            flags: BuFlags(BuFlags::ACK),
            lifetime: 15,
        },
        options: vec![
            MobilityOption::NonceIndices {
                home: home_nonce.0,
                care_of: care_of_nonce.0,
            },
            MobilityOption::AlternateCareOf(care_of),
            MobilityOption::BindingAuthorizationData {
                authenticator: [0; 12],
            },
        ],
    };
    let mut bu = vec![0u8; 128];
    let emitted = repr.emit_without_checksum(&mut bu).unwrap();
    bu.truncate(emitted.len);
    let auth = emitted.authenticator.unwrap();
    let tag = key.authenticator(&care_of, &cn, &bu[..auth.offset]);
    auth.write(&mut bu, &tag).unwrap();
    fill_checksum(&mut bu, &home, &cn).unwrap();
    Fixture {
        keys,
        key,
        care_of,
        now,
        home,
        cn,
        bu,
    }
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let last = Some(SeqNum(41));
    let mut group = c.benchmark_group("binding_update");
    group.throughput(Throughput::Elements(1));
    eprintln!(
        "BU of {} bytes (Nonce Indices, Alternate Care-of Address, Binding Authorization Data)",
        f.bu.len()
    );

    // First BU after its HoT and CoT: Kbm and the HMAC key derived from the
    // tokens those carried (a fresh correspondent each time, made untimed).
    group.bench_function("parse+validate, Kbm derived", |b| {
        b.iter_batched(
            || f.keys.clone(),
            |mut keys| {
                let u = binding_update::read(black_box(&f.bu), &f.home, &f.cn).unwrap();
                black_box(u.verify(&mut keys, last, f.now).unwrap());
                keys // dropped untimed
            },
            BatchSize::PerIteration,
        )
    });
    // The same when the tokens were evicted (or never issued here): both
    // keygen tokens recomputed from Kcn too.
    let cold = CorrespondentKeys::new(f.keys.kcn().clone(), f.keys.nonces().clone());
    group.bench_function("parse+validate, Kbm and tokens derived", |b| {
        b.iter_batched(
            || cold.clone(),
            |mut keys| {
                let u = binding_update::read(black_box(&f.bu), &f.home, &f.cn).unwrap();
                black_box(u.verify(&mut keys, last, f.now).unwrap());
                keys // dropped untimed
            },
            BatchSize::PerIteration,
        )
    });
    // Later BUs with the same nonces (refreshes, the next handoff of the
    // client): the key that verified before is kept; nonces still checked.
    let mut keys = f.keys.clone();
    binding_update::read(&f.bu, &f.home, &f.cn)
        .unwrap()
        .verify(&mut keys, last, f.now)
        .unwrap();
    group.bench_function("parse+validate, Kbm kept", |b| {
        b.iter(|| {
            let u = binding_update::read(black_box(&f.bu), &f.home, &f.cn).unwrap();
            black_box(u.verify(&mut keys, last, f.now).unwrap())
        })
    });
    // The floor: the one HMAC-SHA1 (three SHA-1 blocks) of the authenticator.
    let covered = f.bu.len() - 12;
    group.bench_function("authenticator alone (HMAC-SHA1)", |b| {
        b.iter(|| {
            black_box(f.key.verify(
                &f.care_of,
                &f.cn,
                black_box(&f.bu[..covered]),
                &f.bu[covered..],
            ))
            .unwrap()
        })
    });
    // The codec alone: checked view and checksum, then the full Repr.
    group.bench_function("checked view + checksum", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(f.bu.as_slice())).unwrap();
            black_box(p.verify_checksum(&f.home, &f.cn))
        })
    });
    group.bench_function("Repr::parse", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(f.bu.as_slice())).unwrap();
            black_box(Repr::parse(&p, &f.home, &f.cn).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
