//! The reading task: walks the archive, picks the wanted member, and sends
//! its lines in bounded batches, either as they are read or, once the
//! whole archive checked out, from a temporary spool file.

use std::{io::SeekFrom, sync::Arc};

use tokio::{
    io::{AsyncBufReadExt, AsyncSeekExt, AsyncWriteExt, BufReader, BufWriter},
    sync::mpsc,
};

use super::{ReadCheck, ReadRequest, stream::RawRecords};
use crate::{
    BackupError, Result, Selection,
    archive::{
        ArchiveError, ArchiveReader, Member,
        members::{self, MemberKind},
        walk::{Visit, Walk, manifest_problem},
    },
    store::{BackupBytes, archive_error},
};

/// Lines per batch, and bytes: whichever comes first ends a batch.
const BATCH_LINES: usize = 1024;
const BATCH_BYTES: usize = 1024 * 1024;
/// Batches queued between the task and the reader (so at most about
/// `QUEUED * BATCH_BYTES`, plus one line, is held at a time).
const QUEUED: usize = 2;

/// Which member a read wants.
pub(crate) enum Wanted {
    /// The member of the one type in the selection.
    Type(Selection),
    /// A member named `<TypeName>--<table>`, or by its type or table name.
    Named(String),
}

impl Wanted {
    fn matches(&self, visit: &Visit) -> bool {
        match self {
            Wanted::Type(_) => matches!(visit.kind, MemberKind::Class(_)),
            Wanted::Named(name) => name_matches(name, visit.member.name()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Wanted::Type(selection) => selection
                .classes()
                .iter()
                .map(|c| c.backup_name())
                .collect::<Vec<_>>()
                .join(", "),
            Wanted::Named(name) => name.clone(),
        }
    }
}

/// Whether `wanted` names the member `member` (`X--T.json`): its whole
/// `X--T` name when `wanted` has `--`, else its type or its table name.
fn name_matches(wanted: &str, member: &str) -> bool {
    let Some((backup_name, type_name, table)) = members::class_parts(member) else {
        return false;
    };
    if wanted.contains("--") {
        backup_name == wanted
    } else {
        wanted == type_name || wanted == table
    }
}

/// What the task sends.
pub(crate) enum Message {
    /// Lines of `member`, each with its 1-based number.
    Lines {
        member: Arc<str>,
        lines: Vec<(u64, String)>,
    },
    /// The read failed; nothing follows.
    Failed(BackupError),
    /// Every line was sent and the archive checked out (against its
    /// manifest, if it has one).
    Done { has_manifest: bool },
}

/// The receiver went away: stop quietly.
struct Stopped;

/// Starts the task; the stream it returns aborts it when dropped.
pub(crate) fn spawn(
    request: ReadRequest,
    reader: ArchiveReader<BackupBytes>,
    wanted: Wanted,
) -> RawRecords {
    let (tx, rx) = mpsc::channel(QUEUED);
    let key = request.key.clone();
    let task = tokio::spawn(async move {
        let outcome = match produce(&request, reader, &wanted, &tx).await {
            Ok(Ok(has_manifest)) => Message::Done { has_manifest },
            Ok(Err(error)) => Message::Failed(error),
            Err(Stopped) => return,
        };
        let _ = tx.send(outcome).await;
    });
    RawRecords::new(rx, task.abort_handle(), key)
}

/// Batches lines for the channel.
struct Batcher<'a> {
    tx: &'a mpsc::Sender<Message>,
    member: Arc<str>,
    lines: Vec<(u64, String)>,
    bytes: usize,
}

impl<'a> Batcher<'a> {
    fn new(tx: &'a mpsc::Sender<Message>, member: &str) -> Self {
        Batcher {
            tx,
            member: Arc::from(member),
            lines: Vec::new(),
            bytes: 0,
        }
    }

    async fn push(&mut self, number: u64, line: String) -> std::result::Result<(), Stopped> {
        self.bytes += line.len();
        self.lines.push((number, line));
        if self.lines.len() >= BATCH_LINES || self.bytes >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> std::result::Result<(), Stopped> {
        if self.lines.is_empty() {
            return Ok(());
        }
        self.bytes = 0;
        let lines = std::mem::take(&mut self.lines);
        self.tx
            .send(Message::Lines {
                member: Arc::clone(&self.member),
                lines,
            })
            .await
            .map_err(|_| Stopped)
    }
}

/// Walks the archive; whether it has a manifest. The outer error: the
/// reader went away.
async fn produce(
    request: &ReadRequest,
    reader: ArchiveReader<BackupBytes>,
    wanted: &Wanted,
    tx: &mpsc::Sender<Message>,
) -> std::result::Result<Result<bool>, Stopped> {
    let connected = request.store.connected();
    let key = &request.key;
    let fail = |e: ArchiveError| Ok(Err(archive_error(connected, key, e)));
    let selection = match wanted {
        Wanted::Type(selection) => Some(selection),
        Wanted::Named(_) => None,
    };
    let mut walk = Walk::new(reader, request.limits, selection, true);
    let mut chosen: Option<String> = None;
    let mut spool: Option<tokio::fs::File> = None;
    loop {
        let mut visit = match walk.next().await {
            Ok(Some(visit)) => visit,
            Ok(None) => break,
            Err(e) => return fail(e),
        };
        if !wanted.matches(&visit) {
            if let Err(e) = visit.member.skip().await {
                return fail(e);
            }
            walk.done(visit.member);
            continue;
        }
        let name = visit.member.name().to_owned();
        if let Some(first) = &chosen {
            // The same member twice is a damaged archive (as the walk says
            // for a typed read); two members answering to one type or
            // table name need the caller to name one.
            if *first == name {
                return fail(ArchiveError::Mismatch {
                    member: name,
                    detail: "the archive holds this member more than once".into(),
                });
            }
            return Ok(Err(BackupError::AmbiguousClass {
                key: key.clone(),
                class: wanted.describe(),
                candidates: [first, &name]
                    .map(|n| n.strip_suffix(".json").unwrap_or(n))
                    .join(", "),
            }));
        }
        let sent = match request.check {
            ReadCheck::AsItGoes => send_lines(&mut visit.member, tx).await?,
            ReadCheck::BeforeFirstRecord => match spool_lines(&mut visit.member).await {
                Ok(file) => {
                    spool = Some(file);
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = sent {
            return Ok(Err(match e {
                ReadFailure::Archive(e) => archive_error(connected, key, e),
                ReadFailure::Spool(e) => BackupError::io("spooling a class to a temporary file", e),
            }));
        }
        walk.done(visit.member);
        chosen = Some(name);
    }
    let summary = match walk.finish() {
        Ok(summary) => summary,
        Err(e) => return fail(e),
    };
    if let Some(problem) = manifest_problem(key, summary.has_manifest, request.require_manifest) {
        return fail(problem);
    }
    let Some(member) = chosen else {
        let (missing, hint) = summary
            .missing
            .map(|(missing, hint)| (missing.join(", "), hint))
            .unwrap_or_else(|| (wanted.describe(), String::new()));
        return Ok(Err(BackupError::ClassesNotInBackup {
            key: key.clone(),
            missing,
            available: if summary.classes_held.is_empty() {
                "no class members".to_owned()
            } else {
                summary.classes_held.join(", ")
            },
            hint,
        }));
    };
    if let Some(file) = spool
        && let Err(e) = send_spooled(file, &member, tx).await?
    {
        return Ok(Err(BackupError::io("reading back a spooled class", e)));
    }
    Ok(Ok(summary.has_manifest))
}

enum ReadFailure {
    Archive(ArchiveError),
    Spool(std::io::Error),
}

/// Sends a member's lines as they are read.
async fn send_lines(
    member: &mut Member<BackupBytes>,
    tx: &mpsc::Sender<Message>,
) -> std::result::Result<std::result::Result<(), ReadFailure>, Stopped> {
    let mut batch = Batcher::new(tx, member.name());
    loop {
        match member.next_line().await {
            Ok(Some((number, line))) => batch.push(number, line.to_owned()).await?,
            Ok(None) => break,
            Err(e) => return Ok(Err(ReadFailure::Archive(e))),
        }
    }
    batch.flush().await?;
    Ok(Ok(()))
}

/// Copies a member's lines (checked by the member reader: UTF-8, bounded
/// length) into an unnamed temporary file, which the OS removes whatever
/// happens to the process.
async fn spool_lines(
    member: &mut Member<BackupBytes>,
) -> std::result::Result<tokio::fs::File, ReadFailure> {
    let file = tempfile::tempfile().map_err(ReadFailure::Spool)?;
    let mut out = BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
    loop {
        match member.next_line().await {
            Ok(Some((_, line))) => {
                out.write_all(line.as_bytes())
                    .await
                    .map_err(ReadFailure::Spool)?;
                out.write_all(b"\n").await.map_err(ReadFailure::Spool)?;
            }
            Ok(None) => break,
            Err(e) => return Err(ReadFailure::Archive(e)),
        }
    }
    out.flush().await.map_err(ReadFailure::Spool)?;
    let mut file = out.into_inner();
    file.seek(SeekFrom::Start(0))
        .await
        .map_err(ReadFailure::Spool)?;
    Ok(file)
}

/// Sends the spooled lines, numbered as in the archive.
async fn send_spooled(
    file: tokio::fs::File,
    member: &str,
    tx: &mpsc::Sender<Message>,
) -> std::result::Result<std::io::Result<()>, Stopped> {
    let mut batch = Batcher::new(tx, member);
    let mut input = BufReader::with_capacity(256 * 1024, file);
    let mut number = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Ok(Err(e)),
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        // Written from checked UTF-8 by `spool_lines`; a disk that changed
        // it is an I/O error, not a record.
        match String::from_utf8(std::mem::take(&mut line)) {
            Ok(text) => batch.push(number, text).await?,
            Err(_) => {
                return Ok(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the spool file changed under the reader",
                )));
            }
        }
    }
    batch.flush().await?;
    Ok(Ok(()))
}
