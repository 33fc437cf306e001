"""moto_server with DynamoDB's atomicity: one request at a time.

Real DynamoDB applies a conditional write (and a transaction) atomically;
moto's threaded server checks the condition and writes in separate steps, so
two concurrent conditional writes can both pass. kvsync's locks and event
claims rely on that atomicity, so the local stack serializes requests.

    .venv/bin/python infra/scripts/moto_atomic.py -H 127.0.0.1 -p 5000
"""

import argparse
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def serialized(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # Consume the whole answer inside the lock: the work happens there.
            return list(app(environ, start_response))

    return handle


def o1_sqs_sends():
    """Make moto's SQS SendMessage cost O(1), as SQS's does.

    moto's send_message reads `queue.attributes` for every message only to
    see ContentBasedDeduplication, and that property counts every message
    in the queue three times: sending a 1,000-person event's 100 batches
    took 15 s instead of well under one. While a message is sent, a
    standard queue answers that lookup with no attributes (it has no
    ContentBasedDeduplication); FIFO queues and every other read are
    unchanged.
    """
    from moto.sqs import models

    sending = threading.local()
    full_attributes = models.Queue.attributes.fget

    def attributes(queue):
        if getattr(sending, "on", False) and not queue.fifo_queue:
            return {}
        return full_attributes(queue)

    send_message = models.SQSBackend.send_message

    def send_message_o1(self, *args, **kwargs):
        sending.on = True
        try:
            return send_message(self, *args, **kwargs)
        finally:
            sending.on = False

    models.Queue.attributes = property(attributes)
    models.SQSBackend.send_message = send_message_o1


def item_backups_for_transactions():
    """Make moto's TransactWriteItems cost what its items cost.

    moto backs up every table a transaction touches with copy.deepcopy of
    the whole table, so each transaction costs O(items in the tables): a
    1,000-person queued event (a transaction per person over tables that
    grow by a person each) spent most of its time copying. Here only the
    items the transaction names are backed up, and put back if it fails.
    Requests are serialized (above), so nothing else changes them meanwhile.
    """
    import copy

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    in_transaction = threading.local()
    table_deepcopy = getattr(Table, "__deepcopy__", None)

    def deepcopy_table(table, memo):
        if getattr(in_transaction, "on", False):
            return table  # backed up item by item instead
        if table_deepcopy is not None:
            return table_deepcopy(table, memo)
        clone = table.__class__.__new__(table.__class__)
        memo[id(table)] = clone
        for name, value in table.__dict__.items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def keys_of(table, op):
        key = op.get("Key") or op.get("Item") or {}
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        return hash_key, range_key

    transact_write_items = DynamoDBBackend.transact_write_items

    def transact_write_items_backed_up_by_item(self, transact_items):
        backups = []
        for entry in transact_items:
            for op in entry.values():
                table = self.tables.get(op.get("TableName"))
                if table is None:
                    continue
                try:
                    hash_key, range_key = keys_of(table, op)
                except (KeyError, TypeError):
                    continue  # malformed: the original refuses it before any write
                item = table.get_item(hash_key, range_key)
                backups.append((table, hash_key, range_key, copy.deepcopy(item)))
        in_transaction.on = True
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(backups):
                if item is None:
                    if table.get_item(hash_key, range_key) is not None:
                        table.delete_item(hash_key, range_key)
                elif range_key is not None:
                    table.items[hash_key][range_key] = item
                else:
                    table.items[hash_key] = item
            raise
        finally:
            in_transaction.on = False

    Table.__deepcopy__ = deepcopy_table
    DynamoDBBackend.transact_write_items = transact_write_items_backed_up_by_item


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    o1_sqs_sends()
    item_backups_for_transactions()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialized(app), threaded=True)


if __name__ == "__main__":
    main()
