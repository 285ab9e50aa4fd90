"""Flight SQL on the Flight endpoint (docs/flight.md, "Flight SQL"): the commands a client
packs as google.protobuf.Any into a descriptor's cmd or an action's body.

- Statements (CommandStatementQuery, and prepared statements: CreatePreparedStatement,
  CommandPreparedStatementQuery, ClosePreparedStatement) are parsed into saeta's query
  (core/flight_sql_parse.py) and described and read as any query (gateway/flight_info.py,
  gateway/flight_get.py). A prepared statement's handle is its SQL, sealed for the
  session (core/flight_ticket.py): it works on every replica and holds nothing here.
- The schema browsers' commands (GetSqlInfo, GetCatalogs, GetDbSchemas, GetTables,
  GetTableTypes, the key commands) are answered by the gateway itself: their endpoint's
  ticket is the command, and its rows are built at DoGet from the datasets the session
  may read (core/flight_sql_meta.py).
- Updates, Substrait plans, transactions and the rest are FLIGHT_UNSUPPORTED: the
  endpoint only reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

import saeta
from saeta.core import flight_data, flight_request, flight_sql_meta, flight_ticket
from saeta.core.flight_sql_parse import SqlQuery, parse_sql
from saeta.core.resume_token import session_digest
from saeta.errors import BadRequest, ConnectorOffline, FlightUnsupported
from saeta.flight import flight_pb2 as fpb
from saeta.flight import flight_sql_pb2 as sql
from saeta.gateway.flight_info import Caller, FlightGateway, admitted, ask_connector, write_within

TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
METADATA = b"saeta-md1."
MAX_DATASETS_DESCRIBED = 8  # GetTables with include_schema: the connectors asked at once
ACTIONS = (
    ("CreatePreparedStatement", "a statement's handle and result schema (no parameters)"),
    ("ClosePreparedStatement", "nothing to free: a handle holds its statement"),
    ("CloseSession", "NOT_CLOSEABLE: a saeta session ends at the control plane"),
)
COMMANDS: dict[str, type[Message]] = {
    cls.DESCRIPTOR.name: cls
    for cls in (
        sql.CommandGetSqlInfo,
        sql.CommandGetCatalogs,
        sql.CommandGetDbSchemas,
        sql.CommandGetTables,
        sql.CommandGetTableTypes,
        sql.CommandGetPrimaryKeys,
        sql.CommandGetExportedKeys,
        sql.CommandGetImportedKeys,
        sql.CommandGetCrossReference,
        sql.CommandStatementQuery,
        sql.CommandPreparedStatementQuery,
        sql.CommandStatementUpdate,
        sql.CommandPreparedStatementUpdate,
        sql.CommandStatementSubstraitPlan,
        sql.CommandGetXdbcTypeInfo,
        sql.TicketStatementQuery,
        sql.ActionCreatePreparedStatementRequest,
        sql.ActionClosePreparedStatementRequest,
    )
}
METADATA_SCHEMAS: dict[type[Message], pa.Schema] = {
    sql.CommandGetSqlInfo: flight_sql_meta.SQL_INFO,
    sql.CommandGetCatalogs: flight_sql_meta.CATALOGS,
    sql.CommandGetDbSchemas: flight_sql_meta.DB_SCHEMAS,
    sql.CommandGetTableTypes: flight_sql_meta.TABLE_TYPES,
    sql.CommandGetPrimaryKeys: flight_sql_meta.PRIMARY_KEYS,
    sql.CommandGetExportedKeys: flight_sql_meta.FOREIGN_KEYS,
    sql.CommandGetImportedKeys: flight_sql_meta.FOREIGN_KEYS,
    sql.CommandGetCrossReference: flight_sql_meta.FOREIGN_KEYS,
}


def _unpacked(raw: bytes, what: str) -> Message:
    try:
        packed = any_pb2.Any.FromString(raw)
    except DecodeError:
        raise BadRequest(f"the {what} is neither saeta's query JSON nor a Flight SQL command") from None
    name = packed.type_url.removeprefix(TYPE_PREFIX)
    kind = COMMANDS.get(name) if packed.type_url.startswith(TYPE_PREFIX) else None
    if kind is None:
        raise FlightUnsupported(f"the {what} {packed.type_url[:200]!r} is not a Flight SQL command the gateway serves")
    try:
        return kind.FromString(packed.value)
    except DecodeError:
        raise BadRequest(f"the {what} is not a valid {name}") from None


def command_of(cmd: bytes) -> Message:
    """The Flight SQL command a CMD descriptor holds."""
    return _unpacked(cmd, "command")


def _packed(message: Message) -> bytes:
    packed = any_pb2.Any()
    packed.Pack(message, type_url_prefix="type.googleapis.com/")
    return packed.SerializeToString()


def _table_schema(command: Message) -> pa.Schema | None:
    if isinstance(command, sql.CommandGetTables):
        return flight_sql_meta.TABLES_WITH_SCHEMA if command.include_schema else flight_sql_meta.TABLES
    return METADATA_SCHEMAS.get(type(command))


def metadata_info(command: Message, descriptor: fpb.FlightDescriptor) -> fpb.FlightInfo | None:
    """The FlightInfo of a schema browser's command (None for a statement): its fixed
    schema, and one endpoint whose ticket is the command."""
    schema = _table_schema(command)
    if schema is None:
        return None
    ticket = fpb.Ticket(ticket=METADATA + _packed(command))
    return fpb.FlightInfo(
        schema=bytes(schema.serialize()),
        flight_descriptor=descriptor,
        endpoint=[fpb.FlightEndpoint(ticket=ticket)],
        total_records=-1,
        total_bytes=-1,
    )


def _statement(secret: str, caller: Caller, handle: bytes) -> str:
    fields = flight_ticket.unseal(
        secret, flight_ticket.STATEMENT, handle, session_digest(caller.session.sid), time.time()
    )
    statement = fields.get("q")
    if not isinstance(statement, str):
        raise flight_ticket.TicketRefused("the prepared statement handle is malformed")
    return statement


def query_of(secret: str, caller: Caller, command: Message) -> SqlQuery:
    """The query a statement command asks for."""
    if isinstance(command, sql.CommandStatementQuery):
        if command.HasField("transaction_id"):
            raise FlightUnsupported("transactions are not served: the endpoint only reads")
        return parse_sql(command.query)
    if isinstance(command, sql.CommandPreparedStatementQuery):
        return parse_sql(_statement(secret, caller, command.prepared_statement_handle))
    if isinstance(command, sql.CommandStatementUpdate | sql.CommandPreparedStatementUpdate):
        raise FlightUnsupported("updates are refused: the endpoint only reads")
    if isinstance(command, sql.CommandStatementSubstraitPlan):
        raise FlightUnsupported("Substrait plans are not served: send SQL")
    raise FlightUnsupported(f"{command.DESCRIPTOR.name} is not served")


def is_metadata_ticket(ticket: bytes) -> bool:
    return ticket.startswith(METADATA)


async def _datasets(gateway: FlightGateway, caller: Caller) -> list[str]:
    try:
        served = await gateway.router.datasets(caller.session.tenant)
    except ConnectorOffline:
        return []
    return sorted(d for d in served if caller.session.allows(d))


async def _schemas(gateway: FlightGateway, caller: Caller, names: Sequence[str]) -> dict[str, bytes]:
    """Each dataset's schema message, asked of its connector (at most a few at once)."""
    gate = asyncio.Semaphore(MAX_DATASETS_DESCRIBED)

    async def one(name: str) -> bytes:
        async with gate:
            with admitted(gateway, caller.session):
                info = await ask_connector(gateway, caller, flight_request.path_query([name]))
            return info.schema

    found = await asyncio.gather(*(one(n) for n in names))
    return dict(zip(names, found, strict=True))


async def metadata_table(gateway: FlightGateway, caller: Caller, command: Message) -> pa.Table:
    if isinstance(command, sql.CommandGetSqlInfo):
        return flight_sql_meta.sql_info(saeta.__version__, pa.__version__, list(command.info))
    if isinstance(command, sql.CommandGetCatalogs):
        return flight_sql_meta.catalogs()
    if isinstance(command, sql.CommandGetDbSchemas):
        catalog = command.catalog if command.HasField("catalog") else None
        pattern = command.db_schema_filter_pattern if command.HasField("db_schema_filter_pattern") else None
        return flight_sql_meta.db_schemas(catalog, pattern)
    if isinstance(command, sql.CommandGetTables):
        names = flight_sql_meta.table_names(
            await _datasets(gateway, caller),
            command.catalog if command.HasField("catalog") else None,
            command.db_schema_filter_pattern if command.HasField("db_schema_filter_pattern") else None,
            command.table_name_filter_pattern if command.HasField("table_name_filter_pattern") else None,
            list(command.table_types),
        )
        schemas = await _schemas(gateway, caller, names) if command.include_schema else None
        return flight_sql_meta.tables(names, schemas)
    if isinstance(command, sql.CommandGetTableTypes):
        return flight_sql_meta.table_types()
    schema = METADATA_SCHEMAS.get(type(command))
    if schema is None:
        raise FlightUnsupported(f"{command.DESCRIPTOR.name} is not served")
    return flight_sql_meta.no_keys(schema)


async def do_get_metadata(gateway: FlightGateway, caller: Caller, ticket: bytes, context: Any) -> None:
    """A schema browser's endpoint: its rows, built now for the caller's session."""
    command = _unpacked(ticket[len(METADATA) :], "ticket")
    table = await metadata_table(gateway, caller, command)
    seconds = gateway.cfg.stalled_seconds
    await write_within(context, flight_data.of_schema(bytes(table.schema.serialize())), seconds)
    for batch in table.to_batches():
        for message in flight_data.of_payload(batch.serialize()):
            await write_within(context, message, seconds)


async def do_action(gateway: FlightGateway, caller: Caller, action: fpb.Action) -> list[bytes]:
    """The Result bodies of a Flight SQL action."""
    secret = gateway.cfg.secret_key
    if action.type == "CreatePreparedStatement":
        request = _unpacked(action.body, "action body")
        if not isinstance(request, sql.ActionCreatePreparedStatementRequest):
            raise BadRequest("CreatePreparedStatement takes an ActionCreatePreparedStatementRequest")
        if request.HasField("transaction_id"):
            raise FlightUnsupported("transactions are not served: the endpoint only reads")
        parsed = parse_sql(request.query)
        with admitted(gateway, caller.session):
            info = await ask_connector(gateway, caller, parsed.query)
        s = caller.session
        handle = flight_ticket.seal(
            secret, flight_ticket.STATEMENT, {"s": session_digest(s.sid), "e": s.expires_at, "q": request.query}
        )
        result = sql.ActionCreatePreparedStatementResult(
            prepared_statement_handle=handle,
            dataset_schema=flight_data.schema_message(info.schema, parsed.names),
            is_update=False,
        )
        return [_packed(result)]
    if action.type == "ClosePreparedStatement":
        request = _unpacked(action.body, "action body")
        if not isinstance(request, sql.ActionClosePreparedStatementRequest):
            raise BadRequest("ClosePreparedStatement takes an ActionClosePreparedStatementRequest")
        _statement(secret, caller, request.prepared_statement_handle)
        return []
    if action.type == "CloseSession":  # Flight's sessions: none kept here (a saeta session ends at the control plane)
        return [fpb.CloseSessionResult(status=fpb.CloseSessionResult.NOT_CLOSEABLE).SerializeToString()]
    raise FlightUnsupported(f"the action {action.type[:100]!r} is not served (the endpoint only reads)")
