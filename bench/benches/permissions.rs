//! Effective-permission evaluation from a compiled `PolicySnapshot`, and the snapshot build.
//!
//! Tenant: 10,000 users, 50,000 devices, 500 groups (250 user + 250 device), 200 role
//! assignments of which 40 are scheduled (weekly office hours, every-3-days, overnight, in
//! three zones); three assignments use Everyone x Everything, two of them scheduled, so each
//! evaluation checks at least two schedules. Memberships and device groups are drawn from a fixed-seed generator so every
//! run measures the same tenant. Throughput is reported per evaluation (elements/s).

// Fixed benchmark inputs (constant timestamps and zone names) cannot fail; if they did,
// aborting the benchmark is the right outcome.
#![allow(clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeSet;
use std::hint::black_box;
use switchboard_directory::jiff::Timestamp;
use switchboard_directory::jiff::civil::{date, time};
use switchboard_directory::model::*;
use switchboard_directory::rules::evaluate::TenantModel;
use switchboard_directory::rules::snapshot::PolicySnapshot;
use switchboard_directory::rules::tenant::new_tenant;

const USERS: usize = 10_000;
const DEVICES: usize = 50_000;
const USER_GROUPS: usize = 250;
const DEVICE_GROUPS: usize = 250;
const ASSIGNMENTS: usize = 200;
const SCHEDULED: usize = 40;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn id_from(rng: &mut Rng) -> [u8; 16] {
    let a = rng.next().to_le_bytes();
    let b = rng.next().to_le_bytes();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a);
    out[8..].copy_from_slice(&b);
    out
}

fn tenant_model() -> (TenantModel, Vec<UserId>, Vec<DeviceId>) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let t0: Timestamp = "2026-01-01T00:00Z".parse().expect("timestamp");
    let owner = UserId::from_bytes(id_from(&mut rng));
    let mut m = new_tenant("Bench", "Europe/Bucharest", owner, Quotas::default(), t0)
        .expect("tenant")
        .into_model();
    let tenant = m.tenant.id;
    let everyone = m.user_groups[0].id;
    let everything = m.device_groups[0].id;
    let ugs: Vec<UserGroupId> = (0..USER_GROUPS)
        .map(|i| {
            let id = UserGroupId::from_bytes(id_from(&mut rng));
            m.user_groups.push(UserGroup {
                id,
                tenant,
                name: format!("ug{i}"),
                description: String::new(),
                active: i % 50 != 49,
                kind: UserGroupKind::Local,
            });
            id
        })
        .collect();
    let dgs: Vec<DeviceGroupId> = (0..DEVICE_GROUPS)
        .map(|i| {
            let id = DeviceGroupId::from_bytes(id_from(&mut rng));
            m.device_groups.push(DeviceGroup {
                id,
                tenant,
                name: format!("dg{i}"),
                description: String::new(),
                active: i % 50 != 49,
                everything: false,
            });
            id
        })
        .collect();
    let mut users = vec![owner];
    for _ in 1..USERS {
        let id = UserId::from_bytes(id_from(&mut rng));
        let mut mem = Membership::invited(tenant, id, None, t0);
        mem.state = MembershipState::Active;
        let n = 1 + rng.below(3);
        mem.groups = (0..n).map(|_| ugs[rng.below(ugs.len())]).collect();
        m.memberships.push(mem);
        users.push(id);
    }
    let mut devices = Vec::with_capacity(DEVICES);
    for i in 0..DEVICES {
        let id = DeviceId::from_bytes(id_from(&mut rng));
        let n = 1 + rng.below(3);
        m.devices.push(Device {
            id,
            tenant,
            hostname: format!("host-{i}"),
            alias: None,
            description: String::new(),
            os: "Linux".into(),
            agent_version: "1.0.0".into(),
            logged_in_user: None,
            last_seen: None,
            enrollment: EnrollmentState::Enrolled,
            package: None,
            groups: (0..n).map(|_| dgs[rng.below(dgs.len())]).collect(),
            keys: DeviceKeys {
                auth_ed25519: [0; 32],
                noise_x25519: [0; 32],
            },
            enrolled_at: t0,
        });
        devices.push(id);
    }
    let device_roles: Vec<RoleId> = m
        .roles
        .iter()
        .filter(|r| r.purpose == RolePurpose::DeviceAccess)
        .map(|r| r.id)
        .collect();
    let zones = ["Europe/Bucharest", "America/New_York", "Asia/Tokyo"];
    for i in 0..ASSIGNMENTS {
        // Three assignments reach every pair (Everyone x Everything), two of them scheduled,
        // so every evaluation pays for at least two schedule checks.
        let (ug, dg): (BTreeSet<UserGroupId>, BTreeSet<DeviceGroupId>) = if i < 3 {
            ([everyone].into(), [everything].into())
        } else {
            (
                (0..1 + rng.below(2))
                    .map(|_| ugs[rng.below(ugs.len())])
                    .collect(),
                (0..1 + rng.below(2))
                    .map(|_| dgs[rng.below(dgs.len())])
                    .collect(),
            )
        };
        let schedule = (i < 2 || (3..1 + SCHEDULED).contains(&i)).then(|| {
            let base = Schedule {
                timezone: Some(zones[i % 3].into()),
                ..Schedule::starting(date(2026, 1, 1))
            };
            match i % 3 {
                0 => Schedule {
                    start_time: Some(time(9, 0, 0, 0)),
                    end_time: Some(time(17, 0, 0, 0)),
                    all_day: false,
                    recurrence: Recurrence::Weekly {
                        every: 1,
                        days: DaySet::WEEKDAYS,
                    },
                    ..base
                },
                1 => Schedule {
                    recurrence: Recurrence::Daily(DailyPattern::EveryNDays(3)),
                    ..base
                },
                _ => Schedule {
                    start_time: Some(time(22, 0, 0, 0)),
                    end_time: Some(time(6, 0, 0, 0)),
                    all_day: false,
                    ..base
                },
            }
        });
        m.assignments.push(RoleAssignment {
            id: AssignmentId::from_bytes(id_from(&mut rng)),
            tenant,
            name: format!("ra{i}"),
            description: String::new(),
            active: true,
            auto_disabled: None,
            role: device_roles[rng.below(device_roles.len())],
            user_groups: ug,
            device_groups: dg,
            schedule,
            created_at: t0,
            modified_at: t0,
        });
    }
    (m, users, devices)
}

fn bench_permissions(c: &mut Criterion) {
    let (model, users, devices) = tenant_model();
    let mut g = c.benchmark_group("permissions");
    g.sample_size(10);
    g.bench_function("snapshot_build_10k_users_50k_devices", |b| {
        b.iter(|| PolicySnapshot::build(black_box(&model.input())))
    });
    let snap = PolicySnapshot::build(&model.input());
    let mut rng = Rng(42);
    let pairs: Vec<(UserId, DeviceId)> = (0..4096)
        .map(|_| {
            (
                users[rng.below(users.len())],
                devices[rng.below(devices.len())],
            )
        })
        .collect();
    let now: Timestamp = "2026-06-03T09:30Z".parse().expect("timestamp");
    let granted = pairs
        .iter()
        .filter(|(u, d)| !snap.evaluate(u, d, now).is_empty())
        .count();
    let applying: u32 = pairs
        .iter()
        .map(|(u, d)| snap.evaluate(u, d, now).contributing)
        .sum();
    println!(
        "tenant: {} assignments kept, {granted}/4096 sampled pairs have access, \
         {:.2} applying assignments per pair",
        snap.assignment_count(),
        f64::from(applying) / pairs.len() as f64
    );
    g.sample_size(30);
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_with_input(BenchmarkId::new("evaluate", "by_id"), &pairs, |b, pairs| {
        b.iter(|| {
            let mut n = 0u32;
            for (u, d) in pairs {
                n += snap.evaluate(u, d, black_box(now)).permissions.len();
            }
            n
        })
    });
    let ix: Vec<_> = pairs
        .iter()
        .filter_map(|(u, d)| Some((snap.user_index(u)?, snap.device_index(d)?)))
        .collect();
    g.throughput(Throughput::Elements(ix.len() as u64));
    g.bench_with_input(BenchmarkId::new("evaluate", "by_index"), &ix, |b, ix| {
        b.iter(|| {
            let mut n = 0u32;
            for (u, d) in ix {
                n += snap.evaluate_ix(*u, *d, black_box(now)).permissions.len();
            }
            n
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("my_devices_50k", |b| {
        b.iter(|| snap.my_devices(black_box(&users[17]), now).len())
    });
    g.finish();
}

criterion_group!(benches, bench_permissions);
criterion_main!(benches);
