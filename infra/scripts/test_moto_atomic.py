"""moto_atomic.py's cost patches change no answer: every update below is
applied by plain moto and by patched moto (each in a process of its own, as
the patches change moto's modules), and the items and errors must match.

    .venv/bin/python infra/scripts/test_moto_atomic.py
"""

import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# (item before or None, UpdateExpression, names, values, ConditionExpression)
# kvsync's own updates (shared/src/store), DynamoDB's update features, and
# expressions DynamoDB refuses.
CASES = [
    (None, "SET #status = :s, lease_until_ms = :l, updated_at_ms = :now, "
     "received_at_ms = if_not_exists(received_at_ms, :now), payload = :p, "
     "expires_at = :e ADD attempts :one",
     {"#status": "status"},
     {":s": {"S": "in_progress"}, ":l": {"N": "5"}, ":now": {"N": "1"},
      ":p": {"S": "{}"}, ":e": {"N": "9"}, ":one": {"N": "1"}, ":failed": {"S": "failed"}},
     "attribute_not_exists(event_id) OR #status = :failed OR "
     "(#status = :s AND lease_until_ms < :now)"),
    ({"received_at_ms": {"N": "0"}, "attempts": {"N": "2"}, "status": {"S": "failed"}},
     "SET #status = :s, received_at_ms = if_not_exists(received_at_ms, :now) ADD attempts :one",
     {"#status": "status"}, {":s": {"S": "in_progress"}, ":now": {"N": "1"}, ":one": {"N": "1"}},
     None),
    ({"lock_owner": {"S": "a"}, "lock_until": {"N": "3"}},
     "SET expires_at = :e, contact_id = :c REMOVE lock_owner, lock_until", {},
     {":e": {"N": "9"}, ":c": {"N": "1001"}}, None),
    (None, "ADD created :a, updated :b, unchanged :c, skipped :d, failed :e", {},
     {k: {"N": "1"} for k in (":a", ":b", ":c", ":d", ":e")}, None),
    ({"tat": {"N": "10"}}, "SET tat = tat + :i", {}, {":i": {"N": "5"}, ":now": {"N": "1"}},
     "tat > :now"),
    ({"tags": {"L": [{"S": "a"}]}, "m": {"M": {}}},
     "SET tags = list_append(tags, :t), m.#n = :v", {"#n": "inner"}, {":t": {"L": [{"S": "b"}]}, ":v": {"S": "x"}}, None),
    ({"m": {"M": {"nested1": {"S": "old"}}}, "s": {"SS": ["a", "b"]}},
     "SET m.nested1 = :v DELETE s :d", {}, {":v": {"S": "new"}, ":d": {"SS": ["a"]}}, None),
    (None, "SET a = :v, b = a", {}, {":v": {"S": "x"}}, None),
    (None, "SET a = :v, a = :v", {}, {":v": {"S": "x"}}, None),
    (None, "SET a = :v SET b = :v", {}, {":v": {"S": "x"}}, None),
    (None, "ADD n :one ADD m :one", {}, {":one": {"N": "1"}}, None),
    (None, "SET pk = :v", {}, {":v": {"S": "x"}}, None),
    (None, "SET a = :missing", {}, {":v": {"S": "x"}}, None),
    (None, "SET a.b = :v, a = :v", {}, {":v": {"S": "x"}}, None),
    (None, "SET #a = :v REMOVE #a", {"#a": "a"}, {":v": {"S": "x"}}, None),
    ({"n": {"S": "text"}}, "SET n = n + :one", {}, {":one": {"N": "1"}}, None),
    ({"x": {"N": "1"}}, "SET y = :v", {}, {":v": {"S": "x"}, ":two": {"N": "2"}}, "x = :two"),
]

APPLY = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
patched = sys.argv[2] == "patched"
import boto3
from moto import mock_aws
if patched:
    import moto_atomic
    moto_atomic.cheaper_update_expressions()
    moto_atomic.services_listed_once()
cases = json.loads(sys.stdin.read())
results = []
with mock_aws():
    db = boto3.client("dynamodb", region_name="us-east-1")
    db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for i, (before, expression, names, values, condition) in enumerate(cases):
        key = {"pk": {"S": f"case{i}"}}
        if before is not None:
            db.put_item(TableName="t", Item={**key, **before})
        for via_transaction in (False, True):
            update = {"TableName": "t", "Key": key, "UpdateExpression": expression}
            if names:
                update["ExpressionAttributeNames"] = names
            if values:
                update["ExpressionAttributeValues"] = values
            if condition:
                update["ConditionExpression"] = condition
            try:
                if via_transaction:
                    db.transact_write_items(TransactItems=[{"Update": update}])
                else:
                    db.update_item(**update)
                outcome = db.get_item(TableName="t", Key=key).get("Item")
            except Exception as error:
                response = getattr(error, "response", {}).get("Error", {})
                outcome = {"error": response.get("Code", type(error).__name__),
                           "message": response.get("Message", str(error))}
            results.append(outcome)
print(json.dumps(results, sort_keys=True))
"""


def apply(variant):
    answer = subprocess.run(
        [sys.executable, "-c", APPLY, HERE, variant],
        input=json.dumps(CASES),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout)


class CostPatchesChangeNoAnswer(unittest.TestCase):
    def test_updates_and_errors_match_plain_moto(self):
        plain, patched = apply("plain"), apply("patched")
        self.assertEqual(len(plain), 2 * len(CASES))
        self.assertEqual(len(patched), len(plain), "every case answered by both")
        self.assertTrue(any("error" in (r or {}) for r in plain), "some cases are refused")
        self.assertTrue(any("error" not in (r or {}) for r in plain), "some cases apply")
        for i, (a, b) in enumerate(zip(plain, patched)):
            case = CASES[i // 2]
            with self.subTest(expression=case[1], transaction=bool(i % 2)):
                self.assertEqual(a, b)


if __name__ == "__main__":
    unittest.main()
