//! The PostgreSQL backend (scale-out).
use super::*;
pub struct PgStore;
impl PgStore {
    pub async fn open(_url: &str) -> StoreResult<Self> {
        todo!()
    }
}
#[async_trait]
impl EventStore for PgStore {
    async fn append(&self, _req: AppendRequest) -> StoreResult<Appended> {
        todo!()
    }
    async fn read(&self, _p: Uuid, _a: i64, _l: i64) -> StoreResult<Vec<StoredEvent>> {
        todo!()
    }
    async fn find_command(
        &self,
        _p: Uuid,
        _a: Uuid,
        _o: &str,
    ) -> StoreResult<Option<CommandRecord>> {
        todo!()
    }
    async fn head(&self, _p: Uuid) -> StoreResult<i64> {
        todo!()
    }
    async fn read_all(&self, _a: i64, _l: i64) -> StoreResult<Vec<StoredEvent>> {
        todo!()
    }
    async fn plannings(&self) -> StoreResult<Vec<Uuid>> {
        todo!()
    }
    async fn close(&self) {}
}
