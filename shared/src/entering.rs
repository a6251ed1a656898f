//! The loop every login runs to get into its phone's one live session, whatever the
//! other logins of that phone do at the same moment: join the session found, or start
//! one; when a race is lost, go where the winner went. It is written against a small
//! trait ([`Door`]) so that it is tested here without DynamoDB; `sessions` opens the real
//! door (conditional writes that DynamoDB Local tests cover).

/// Tries before giving up: each retry is caused by another login of the same phone
/// winning a race, so a handful is plenty.
pub const ATTEMPTS: u32 = 8;

/// The outcome of joining a session.
pub enum Joined<E> {
    In(E),
    /// The session has ended or expired since it was found: its lock may be taken over.
    Gone,
    /// The session is live but refused the login (the password changed since its check).
    Refused,
}

/// The outcome of starting a session.
pub enum Started<E> {
    Created(E),
    /// Another session holds the phone: join that one.
    Held {
        session_id: String,
        max_expires_at: i64,
    },
    /// A concurrent transaction touched the same items: try again after a pause.
    Contended,
}

/// How a login gets in.
pub(crate) trait Door {
    type Entered;
    type Error;
    async fn join(
        &self,
        session_id: &str,
        max_expires_at: i64,
    ) -> Result<Joined<Self::Entered>, Self::Error>;
    /// Starts a session; `replacing` names a dead session whose lock may be taken over.
    async fn start(&self, replacing: Option<&str>) -> Result<Started<Self::Entered>, Self::Error>;
    async fn pause(&self, attempt: u32);
}

/// How the loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry<E> {
    Entered(E),
    /// The live session refused the login.
    Refused,
    /// Every attempt lost a race.
    Contended,
}

/// Gets in through `door`, starting from the session `found` (id and absolute cap), if
/// any was found.
pub(crate) async fn enter<D: Door>(
    door: &D,
    found: Option<(String, i64)>,
) -> Result<Entry<D::Entered>, D::Error> {
    let mut target = found;
    let mut stale: Option<String> = None;
    for attempt in 1..=ATTEMPTS {
        if let Some((sid, max_expires_at)) = target.take() {
            match door.join(&sid, max_expires_at).await? {
                Joined::In(entered) => return Ok(Entry::Entered(entered)),
                Joined::Refused => return Ok(Entry::Refused),
                Joined::Gone => stale = Some(sid),
            }
        }
        match door.start(stale.as_deref()).await? {
            Started::Created(entered) => return Ok(Entry::Entered(entered)),
            Started::Held {
                session_id,
                max_expires_at,
            } => target = Some((session_id, max_expires_at)),
            Started::Contended => door.pause(attempt).await,
        }
    }
    Ok(Entry::Contended)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;

    /// A door that answers from scripts and records what the loop asked.
    #[derive(Default)]
    struct Scripted {
        joins: RefCell<VecDeque<Joined<&'static str>>>,
        starts: RefCell<VecDeque<Started<&'static str>>>,
        asked: RefCell<Vec<String>>,
    }

    impl Door for Scripted {
        type Entered = &'static str;
        type Error = ();
        async fn join(&self, sid: &str, _max: i64) -> Result<Joined<&'static str>, ()> {
            self.asked.borrow_mut().push(format!("join {sid}"));
            self.joins.borrow_mut().pop_front().ok_or(())
        }
        async fn start(&self, replacing: Option<&str>) -> Result<Started<&'static str>, ()> {
            self.asked
                .borrow_mut()
                .push(format!("start replacing {replacing:?}"));
            self.starts.borrow_mut().pop_front().ok_or(())
        }
        async fn pause(&self, attempt: u32) {
            self.asked.borrow_mut().push(format!("pause {attempt}"));
        }
    }

    fn run(door: &Scripted, found: Option<&str>) -> Result<Entry<&'static str>, ()> {
        let found = found.map(|sid| (sid.to_string(), 0));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(enter(door, found))
    }

    fn held(sid: &str) -> Started<&'static str> {
        Started::Held {
            session_id: sid.to_string(),
            max_expires_at: 0,
        }
    }

    #[test]
    fn a_live_session_found_is_joined_and_none_is_started() {
        let door = Scripted::default();
        door.joins.borrow_mut().push_back(Joined::In("joined s1"));
        assert_eq!(run(&door, Some("s1")), Ok(Entry::Entered("joined s1")));
        assert_eq!(*door.asked.borrow(), ["join s1"]);
    }

    #[test]
    fn a_session_that_ended_meanwhile_is_replaced_by_a_new_one() {
        let door = Scripted::default();
        door.joins.borrow_mut().push_back(Joined::Gone);
        door.starts.borrow_mut().push_back(Started::Created("new"));
        assert_eq!(run(&door, Some("s1")), Ok(Entry::Entered("new")));
        assert_eq!(
            *door.asked.borrow(),
            ["join s1", "start replacing Some(\"s1\")"]
        );
    }

    #[test]
    fn a_login_that_loses_the_start_joins_the_winner() {
        let door = Scripted::default();
        door.starts.borrow_mut().push_back(held("winner"));
        door.joins
            .borrow_mut()
            .push_back(Joined::In("joined winner"));
        assert_eq!(run(&door, None), Ok(Entry::Entered("joined winner")));
        assert_eq!(
            *door.asked.borrow(),
            ["start replacing None", "join winner"]
        );
    }

    #[test]
    fn a_refusal_ends_the_loop_without_starting_a_session() {
        let door = Scripted::default();
        door.joins.borrow_mut().push_back(Joined::Refused);
        assert_eq!(run(&door, Some("s1")), Ok(Entry::Refused));
        assert_eq!(*door.asked.borrow(), ["join s1"]);
    }

    #[test]
    fn contention_pauses_between_tries_and_gives_up_after_the_last() {
        let door = Scripted::default();
        for _ in 0..ATTEMPTS {
            door.starts.borrow_mut().push_back(Started::Contended);
        }
        assert_eq!(run(&door, None), Ok(Entry::Contended));
        let asked = door.asked.borrow();
        assert_eq!(asked.len(), 2 * ATTEMPTS as usize);
        assert_eq!(asked.last().map(String::as_str), Some("pause 8"));
    }

    #[test]
    fn a_winner_that_ends_before_the_join_is_replaced_in_turn() {
        let door = Scripted::default();
        door.starts.borrow_mut().push_back(held("winner"));
        door.joins.borrow_mut().push_back(Joined::Gone);
        door.starts.borrow_mut().push_back(Started::Created("new"));
        assert_eq!(run(&door, None), Ok(Entry::Entered("new")));
        assert_eq!(
            *door.asked.borrow(),
            [
                "start replacing None",
                "join winner",
                "start replacing Some(\"winner\")"
            ]
        );
    }
}
