//! The session's answers (size caps) and its reconnect backoff, without a real master.

mod answers {
    use super::super::*;

    struct Fixed(MibTable);
    impl TableSource for Fixed {
        fn generation(&self) -> u64 {
            1
        }
        fn build(&self) -> Option<MibTable> {
            Some(self.0.clone())
        }
    }

    fn served() -> Served {
        Served::new(&SessionConfig {
            address: MasterAddress::Tcp("localhost:705".into()),
            agent_timeout: 60,
            cache_max: Duration::from_secs(60),
            timing: Timing::default(),
        })
    }

    fn table(resources: usize) -> MibTable {
        let mut state = drbd::State::new();
        let mut out = Vec::new();
        for i in 0..resources {
            for l in [
                format!("exists resource name:r{i} role:Secondary"),
                format!("exists device name:r{i} volume:0 minor:{i} disk:UpToDate client:no open:no quorum:yes"),
            ] {
                state.apply(drbd::parse_line(&l).unwrap().event, &mut out);
            }
        }
        let snapshot = state.snapshot();
        MibTable::build(snapshot.iter().map(|r| &**r), "9.2.8", "9.28.0", true)
    }

    /// What the session does with one PDU: refresh the table if the PDU reads it, then answer.
    fn answered(pdu: Pdu, source: Fixed, served: &mut Served) -> Reply {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        if let Some(walk) = reads_table(&pdu) {
            runtime.block_on(served.refresh(&Arc::new(source), walk));
        }
        answer(pdu, served)
    }

    fn range() -> SearchRange {
        SearchRange {
            start: Oid(LINBIT.to_vec()),
            include: false,
            end: Oid::default(),
        }
    }

    fn varbinds(reply: Reply) -> (u16, Vec<VarBind>) {
        match reply {
            Reply::Send(Pdu {
                payload:
                    Payload::Response {
                        error, varbinds, ..
                    },
                ..
            }) => (error, varbinds),
            _ => panic!("not a response"),
        }
    }

    #[test]
    fn a_huge_getbulk_is_cut_to_the_response_limit_instead_of_built_in_full() {
        let source = Fixed(table(200));
        let mut served = served();
        let pdu = Pdu {
            ids: Ids::default(),
            payload: Payload::GetBulk {
                context: None,
                non_repeaters: 0,
                max_repetitions: 65535,
                ranges: vec![range(); 2000],
            },
        };
        let (error, vbs) = varbinds(answered(pdu, source, &mut served));
        assert_eq!(error, error::NO_ERROR);
        assert!(!vbs.is_empty());
        let bytes: usize = vbs.iter().map(VarBind::encoded_len).sum();
        assert!(bytes <= MAX_RESPONSE, "{bytes}");
        assert!(
            bytes > MAX_RESPONSE - 200,
            "filled up to the limit: {bytes}"
        );
    }

    fn ok(packet_id: u32) -> Pdu {
        Pdu {
            ids: Ids {
                session_id: 9,
                transaction_id: 0,
                packet_id,
            },
            payload: Payload::Response {
                sys_uptime: 0,
                error: error::NO_ERROR,
                index: 0,
                varbinds: Vec::new(),
            },
        }
    }

    /// The socket-free entry the fuzz target uses behaves as a session: Open, Register with
    /// the session id the master gave, then answers echoing the request's ids.
    #[tokio::test]
    async fn a_session_over_a_connected_stream_registers_and_answers_with_the_request_ids() {
        let (session, mut master) = registered(Timing::default().ping_every).await;
        let ids = Ids {
            session_id: 9,
            transaction_id: 77,
            packet_id: 78,
        };
        let get_next = Pdu {
            ids,
            payload: Payload::GetNext {
                context: None,
                ranges: vec![range()],
            },
        };
        write_pdu(&mut master, &get_next).await.unwrap();
        let answer = read_pdu(&mut master).await.unwrap();
        assert_eq!(answer.ids, ids);
        let (error, vbs) = varbinds(Reply::Send(answer));
        assert_eq!(error, error::NO_ERROR);
        assert_eq!(vbs.len(), 1);
        assert!(vbs[0].name > Oid(LINBIT.to_vec()));
        drop(master);
        assert!(
            session.await.unwrap().is_err(),
            "ends when the master goes away"
        );
    }

    /// A session over an in-memory stream with the given ping period, past Open (with the
    /// spec's description) and Register (with the session id the master gave).
    async fn registered(
        ping_every: Duration,
    ) -> (
        tokio::task::JoinHandle<Result<(), String>>,
        tokio::io::DuplexStream,
    ) {
        registered_over(ping_every, Duration::from_secs(10), 1 << 20).await
    }

    /// As [`registered`], with the answer deadline and the stream's buffer in each direction.
    async fn registered_over(
        ping_every: Duration,
        answer_within: Duration,
        buffer: usize,
    ) -> (
        tokio::task::JoinHandle<Result<(), String>>,
        tokio::io::DuplexStream,
    ) {
        let (subagent, mut master) = tokio::io::duplex(buffer);
        let config = SessionConfig {
            address: MasterAddress::Tcp("localhost:705".into()),
            agent_timeout: 60,
            cache_max: Duration::from_secs(60),
            timing: Timing {
                ping_every,
                answer_within,
                ..Timing::default()
            },
        };
        let session =
            tokio::spawn(async move { session_over(subagent, &config, Fixed(table(1))).await });
        let open = read_pdu(&mut master).await.unwrap();
        match &open.payload {
            Payload::Open { descr, .. } => {
                assert_eq!(descr, b"DRBD by drbd-reactor::agentx", "spec §3 step 1")
            }
            other => panic!("not an Open: {other:?}"),
        }
        write_pdu(&mut master, &ok(open.ids.packet_id))
            .await
            .unwrap();
        let register = read_pdu(&mut master).await.unwrap();
        assert!(matches!(register.payload, Payload::Register { .. }));
        assert_eq!(register.ids.session_id, 9, "the session id the master gave");
        write_pdu(&mut master, &ok(register.ids.packet_id))
            .await
            .unwrap();
        (session, master)
    }

    /// A master that keeps the connection open but stops reading ends the session after the
    /// answer deadline: a write without one held the session (no ping check, no shutdown).
    #[tokio::test]
    async fn a_master_that_stops_reading_ends_the_session_at_the_answer_deadline() {
        let (session, master) =
            registered_over(Duration::from_secs(30), Duration::from_millis(300), 256).await;
        let (_from_subagent, mut to_subagent) = tokio::io::split(master);
        tokio::spawn(async move {
            for packet_id in 100.. {
                let get_next = Pdu {
                    ids: Ids {
                        session_id: 9,
                        transaction_id: packet_id,
                        packet_id,
                    },
                    payload: Payload::GetNext {
                        context: None,
                        ranges: vec![range()],
                    },
                };
                if write_pdu(&mut to_subagent, &get_next).await.is_err() {
                    break;
                }
            }
        });
        let ended = tokio::time::timeout(Duration::from_secs(10), session)
            .await
            .expect("the session ends instead of waiting for the master forever")
            .unwrap();
        let error = ended.unwrap_err();
        assert!(error.contains("did not read"), "{error}");
    }

    /// A PDU that arrives in two parts with ping ticks in between is read whole: a read
    /// dropped half way (the ping timer won the select) lost its bytes and every PDU after.
    #[tokio::test]
    async fn a_pdu_split_across_ping_ticks_is_answered() {
        let (session, mut master) = registered(Duration::from_millis(20)).await;
        let ids = Ids {
            session_id: 9,
            transaction_id: 5,
            packet_id: 6,
        };
        let get_next = Pdu {
            ids,
            payload: Payload::GetNext {
                context: None,
                ranges: vec![range()],
            },
        };
        let bytes = get_next.encode();
        master.write_all(&bytes[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        master.write_all(&bytes[10..]).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let pdu = read_pdu(&mut master).await.unwrap();
                if matches!(pdu.payload, Payload::Response { .. }) {
                    return pdu;
                }
            }
        })
        .await
        .expect("the GetNext was answered");
        assert_eq!(answer.ids, ids);
        drop(master);
        let _ = session.await;
    }

    /// The master answering our ping with an error (notOpen) no longer serves us: the
    /// session ends, to be opened again.
    #[tokio::test]
    async fn a_ping_answered_with_an_error_ends_the_session() {
        let (session, mut master) = registered(Duration::from_millis(20)).await;
        let ping = read_pdu(&mut master).await.unwrap();
        assert!(matches!(ping.payload, Payload::Ping { .. }));
        let mut not_open = ok(ping.ids.packet_id);
        if let Payload::Response { error, .. } = &mut not_open.payload {
            *error = 257;
        }
        write_pdu(&mut master, &not_open).await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), session)
            .await
            .expect("the session ended")
            .unwrap();
        assert!(ended.unwrap_err().contains("error 257"));
    }

    /// RFC 2741 §7.2.4.4: a CleanupSet gets no response.
    #[test]
    fn a_cleanupset_is_not_answered() {
        let mut served = served();
        let pdu = Pdu {
            ids: Ids::default(),
            payload: Payload::CleanupSet,
        };
        assert!(matches!(answer(pdu, &mut served), Reply::Nothing));
    }

    #[test]
    fn a_getnext_that_cannot_fit_answers_too_big() {
        let source = Fixed(table(1));
        let mut served = served();
        let pdu = Pdu {
            ids: Ids::default(),
            payload: Payload::GetNext {
                context: None,
                ranges: vec![range(); 10_000],
            },
        };
        let (error, vbs) = varbinds(answered(pdu, source, &mut served));
        assert_eq!(error, error::TOO_BIG);
        assert!(vbs.is_empty());
    }
}

mod reconnect {
    use super::super::*;
    use std::sync::Arc;

    struct Empty;
    impl TableSource for Empty {
        fn generation(&self) -> u64 {
            0
        }
        fn build(&self) -> Option<MibTable> {
            Some(MibTable::default())
        }
    }

    /// A master that answers Open and Register, then sends garbage: every session breaks at
    /// once, after a successful registration.
    async fn hostile_master(
        listener: tokio::net::TcpListener,
        sessions: Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
    ) {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            sessions.lock().unwrap().push(std::time::Instant::now());
            tokio::spawn(async move {
                for _ in 0..2 {
                    let Ok(pdu) = read_pdu(&mut s).await else {
                        return;
                    };
                    let answer = Pdu {
                        ids: Ids {
                            session_id: 1,
                            ..pdu.ids
                        },
                        payload: Payload::Response {
                            sys_uptime: 0,
                            error: error::NO_ERROR,
                            index: 0,
                            varbinds: Vec::new(),
                        },
                    };
                    let _ = write_pdu(&mut s, &answer).await;
                }
                let _ = s.write_all(&[0xff; 64]).await;
            });
        }
    }

    #[tokio::test]
    async fn a_session_that_breaks_right_after_register_is_retried_with_backoff() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sessions = Arc::new(std::sync::Mutex::new(Vec::new()));
        tokio::spawn(hostile_master(listener, Arc::clone(&sessions)));
        let config = SessionConfig {
            address: MasterAddress::Tcp(addr.to_string()),
            agent_timeout: 60,
            cache_max: Duration::from_secs(60),
            timing: Timing {
                backoff_min: Duration::from_millis(100),
                backoff_max: Duration::from_secs(10),
                healthy_after: Duration::from_secs(60),
                ping_every: Duration::from_secs(30),
                answer_within: Duration::from_secs(5),
            },
        };
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run(config, Empty, rx));
        // An earlier version of this agent reconnected at once when a registered session
        // broke: hundreds of times a second here (the original waits 2 s). The waits
        // between sessions are at least 100, 200, 400 ms (a slow machine only adds to them).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while sessions.lock().unwrap().len() < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "the agent stopped retrying"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        let at = sessions.lock().unwrap().clone();
        for (k, pair) in at.windows(2).take(3).enumerate() {
            let least = Duration::from_millis(100 << k);
            assert!(
                pair[1] - pair[0] >= least,
                "session {} came after {:?}, before its backoff {least:?}",
                k + 2,
                pair[1] - pair[0]
            );
        }
    }
}

/// drbdsetup is started with `PR_SET_PDEATHSIG` from a runtime worker and gets SIGKILL when
/// that thread ends. With `block_in_place` for the table build, the worker's thread became a
/// blocking-pool thread that ended once idle (10 s in the daemon), and drbdsetup died with it
/// after an SNMP walk: the build must leave the runtime's threads as they are.
mod threads {
    use super::super::*;
    use drbd_reactor_process::group::{spawn_group, Options};

    /// A source that blocks its caller, as waiting for the core's answer does.
    struct Blocking;
    impl TableSource for Blocking {
        fn generation(&self) -> u64 {
            1
        }
        fn build(&self) -> Option<MibTable> {
            std::thread::sleep(Duration::from_millis(20));
            Some(MibTable::default())
        }
    }

    #[test]
    fn a_table_build_leaves_a_child_started_from_the_worker_alive() {
        const KEEP_ALIVE: Duration = Duration::from_millis(50);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_keep_alive(KEEP_ALIVE)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::spawn(async {
                let mut sleep = tokio::process::Command::new("sleep");
                sleep.arg("60");
                let options = Options {
                    die_with_parent: true,
                    kill_group_on_drop: true,
                };
                let mut child = spawn_group(&mut sleep, options).unwrap();
                let worker = std::thread::current().id();
                let mut served = Served::new(&SessionConfig {
                    address: MasterAddress::Tcp("localhost:705".into()),
                    agent_timeout: 60,
                    cache_max: Duration::from_secs(60),
                    timing: Timing::default(),
                });
                served.refresh(&Arc::new(Blocking), true).await;
                tokio::task::yield_now().await;
                assert_eq!(
                    std::thread::current().id(),
                    worker,
                    "the session runs on the thread that started the child"
                );
                // Something that must not happen: given ten times the keep-alive to happen.
                let ended = tokio::time::timeout(KEEP_ALIVE * 10, child.wait()).await;
                assert!(ended.is_err(), "the child ended: {ended:?}");
            })
            .await
            .unwrap();
        });
    }
}
