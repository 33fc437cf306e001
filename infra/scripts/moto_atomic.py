"""moto_server with DynamoDB's atomicity (one request at a time), and with
the costs of the requests kvsync makes brought near DynamoDB's.

Real DynamoDB applies a conditional write (and a transaction) atomically;
moto's threaded server checks the condition and writes in separate steps, so
two concurrent conditional writes can both pass. kvsync's locks and event
claims rely on that atomicity, so the local stack serializes requests.

    .venv/bin/python infra/scripts/moto_atomic.py -H 127.0.0.1 -p 5000
"""

import argparse
import copy
import functools
import os
import pickle
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


def cheaper_update_expressions():
    """Make moto's UpdateExpression handling cost less, with the same results.

    Every update moto applies parses its UpdateExpression (twice in a
    transaction), copies the tree with copy.deepcopy, then walks it ten
    times; each walk finds a node's handler through an ABC isinstance and a
    handler table rebuilt per node, and two whole-expression checks run
    again on every nested sub-expression. A warm event's two transactions
    spent ~8 ms each there, more than the 5 ms a region's round trip is
    given in `make bench` (issue 9). Here:
    - a parsed expression is kept by its text: nothing changes the parsed
      tree (the validator changes its own copy);
    - that copy goes through pickle, which copies the same tree in C;
    - each walk finds a node class's handler once;
    - the action-count and overlapping-path checks run once, on the whole
      expression, whose clauses include every nested expression's: the same
      expressions are refused (an expression with several errors may name
      them in another order).
    """
    from moto.dynamodb.parsing import ast_nodes, expressions, validators

    make = expressions.UpdateExpressionParser.make.__func__
    expressions.UpdateExpressionParser.make = classmethod(
        functools.lru_cache(maxsize=512)(make)
    )

    def copy_tree(value, memo=None):
        if isinstance(value, ast_nodes.Node):
            try:
                return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
            except (pickle.PicklingError, TypeError, AttributeError):
                pass
        return copy.deepcopy(value, memo)

    validators.deepcopy = copy_tree

    is_node = {}
    base_pre_processing = ast_nodes.DepthFirstTraverser.pre_processing_of_child

    def handler_of(traverser, handlers, cls):
        if cls not in handlers:
            handlers[cls] = next(
                (
                    handler
                    for node_class, handler in traverser._processing_map().items()
                    if issubclass(cls, node_class)
                ),
                None,
            )
        return handlers[cls]

    def walk(traverser, handlers, pre_processing, node, child_id):
        cls = type(node)
        if cls not in is_node:
            is_node[cls] = issubclass(cls, ast_nodes.Node)
        if not is_node[cls]:
            return node
        parent_node = node.parent
        for i, child_node in enumerate(node.children or ()):
            if pre_processing is not None:
                pre_processing(node, i)
            walk(traverser, handlers, pre_processing, child_node, i)
        handler = handler_of(traverser, handlers, cls)
        if handler is not None:
            node = handler(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    def traverse_node_recursively(traverser, node, child_id=-1):
        handlers = traverser.__dict__.setdefault("_handlers_by_class", {})
        pre_processing = traverser.pre_processing_of_child
        if type(traverser).pre_processing_of_child is base_pre_processing:
            pre_processing = None
        return walk(traverser, handlers, pre_processing, node, child_id)

    ast_nodes.DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively

    def on_whole_expression(check):
        def traverse(traverser, node):
            if isinstance(node, ast_nodes.UpdateExpression):
                return getattr(traverser, check)(node)
            return ast_nodes.DepthFirstTraverser.traverse(traverser, node)

        return traverse

    validators.ActionCountValidator.traverse = on_whole_expression("verify_action_counts")
    validators.OverlappingPathsValidator.traverse = on_whole_expression(
        "check_for_overlapping_paths"
    )


def services_listed_once():
    """List moto's services once, not on every request.

    moto's server finds a request's service by listing its own package's
    folders (os.listdir and a stat per folder, ~50 syscalls) each time.
    """
    from moto import backends

    services = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: services


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    o1_sqs_sends()
    item_backups_for_transactions()
    cheaper_update_expressions()
    services_listed_once()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialized(app), threaded=True)


if __name__ == "__main__":
    main()
