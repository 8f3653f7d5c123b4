"""Command-line equivalent of the admin API: ``python -m shared.auth create|revoke|list``."""

import argparse
import asyncio
import json
import sys

from shared.auth.repository import ApiKeyRepository
from shared.auth.service import ApiKeys, UnknownKey
from shared.auth.tenants import tenant_argument
from shared.mongo import connect, database
from shared.settings import InfraSettings

CLI = "cli"  # what a key's created_by / revoked_by says when this command made the change


async def _main(args: argparse.Namespace) -> int:
    settings = InfraSettings()
    client = connect(settings)
    repository = ApiKeyRepository(database(client, settings))
    keys = ApiKeys(repository, cache_seconds=0)
    try:
        await repository.ensure_indexes()
        if args.command == "create":
            key_id, key = await keys.create(args.tenant, args.admin, by=CLI)
            print(
                json.dumps({"id": key_id, "key": key, "tenant": args.tenant, "admin": args.admin})
            )
        elif args.command == "revoke":
            try:
                await keys.revoke(args.id, by=CLI)
            except UnknownKey:
                print(f"no active API key {args.id}", file=sys.stderr)
                return 1
        else:
            for doc in await keys.list(args.tenant):
                print(json.dumps(doc, default=str))
        return 0
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.auth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key (printed once)")
    create.add_argument("--tenant", required=True, type=tenant_argument)
    create.add_argument("--admin", action="store_true")
    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    listing = sub.add_parser("list", help="list keys (never the secrets)")
    listing.add_argument("--tenant", type=tenant_argument)
    sys.exit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
