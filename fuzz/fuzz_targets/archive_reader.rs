//! Any bytes at all, read as a backup archive: the reader must return an
//! error or members, never panic, hang, or allocate without bound.
#![no_main]

use gludb_backup::archive::{ArchiveReader, Limits, Manifest};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
}

/// Small limits, so that limit handling is exercised too.
const LIMITS: Limits = Limits {
    max_line_bytes: 4096,
    max_manifest_bytes: 16 * 1024,
    max_name_bytes: 512,
    max_members: 64,
};

async fn read(data: Vec<u8>) {
    let Ok(mut reader) = ArchiveReader::new(std::io::Cursor::new(data), LIMITS) else {
        return;
    };
    let mut turn = 0usize;
    while let Ok(Some(mut member)) = reader.next_member().await {
        turn += 1;
        // Read members every way restore and verify do.
        match turn % 3 {
            0 => {
                if member.skip().await.is_err() {
                    return;
                }
            }
            1 => {
                if let Ok(Some(bytes)) = member.read_all(LIMITS.max_manifest_bytes).await {
                    let _ = Manifest::from_json(&bytes);
                }
            }
            _ => loop {
                match member.next_line().await {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            },
        }
        let _ = member.digest();
    }
}

fuzz_target!(|data: &[u8]| {
    RUNTIME.with(|rt| rt.block_on(read(data.to_vec())));
});
