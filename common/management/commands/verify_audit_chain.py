"""Walks the audit trail's hash chain in id order and fails (exit status 1) naming the first entry
whose hash does not follow: an entry changed, removed or slipped in after it was written breaks
the chain there. The chain's head row must also name the last entry and its hash (a cut tail)."""

from django.core.management.base import BaseCommand, CommandError

from common.audit import HASHED, entry_hash
from common.models import AuditChainHead, AuditEntry


class Command(BaseCommand):
    help = "校验审计记录的哈希链：从头逐条核对，发现断链时报告第一条有问题的记录并以非零状态退出。"

    def handle(self, *args, **options):
        previous, checked, before_chain, last_id = "", 0, 0, 0
        rows = AuditEntry.objects.order_by("id").values_list("id", *HASHED, "hash")
        for entry_id, *content, stored in rows.iterator(chunk_size=5000):
            last_id = entry_id
            if not stored and not checked:
                before_chain += 1  # written before the chain began (common migration 0006)
                continue
            expected = entry_hash(previous, tuple(content))
            if stored != expected:
                raise CommandError(
                    f"审计链在第 {entry_id} 号记录处断开：该记录或其前一条记录已被改动、删除或插入。"
                )
            previous, checked = stored, checked + 1
        head = AuditChainHead.objects.filter(pk=1).first()
        if checked and (head is None or (head.last_id, head.last_hash) != (last_id, previous)):
            raise CommandError(f"审计链的链头与最后一条记录（第 {last_id} 号）不符：链尾可能已被删除。")
        self.stdout.write(f"审计链完整：已核对 {checked} 条记录（链开始前的记录 {before_chain} 条）。")
