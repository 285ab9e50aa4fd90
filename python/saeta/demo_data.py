"""Deterministic sample data for `saeta demo` and the benchmarks, built with
pyarrow.compute (no per-row Python)."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REGIONES = ["Norte", "Sur", "Este", "Oeste", "Centro"]
PRODUCTOS = [f"Producto {i:02d}" for i in range(50)]


def ventas(rows: int, seed: int = 7, start: int = 0) -> pa.Table:
    """A sales table: id, fecha (timestamp, one sale every 30 s), region, producto, cantidad,
    precio, total. Quantities follow a weekly and a yearly cycle, so charts show a shape."""
    ids = pa.array(range(start, start + rows), pa.int64())
    r1 = pc.random(rows, initializer=seed)
    r2 = pc.random(rows, initializer=seed + 1)
    r3 = pc.random(rows, initializer=seed + 2)
    base = 1_704_067_200_000  # 2024-01-01T00:00:00Z in ms
    fecha = pc.cast(pc.add(pc.multiply(ids, 30_000), base), pa.timestamp("ms"))
    region = pc.take(pa.array(REGIONES), pc.cast(pc.floor(pc.multiply(r1, len(REGIONES))), pa.int32()))
    producto = pc.take(pa.array(PRODUCTOS), pc.cast(pc.floor(pc.multiply(r2, len(PRODUCTOS))), pa.int32()))
    days = pc.divide(pc.cast(pc.multiply(ids, 30), pa.float64()), 86_400.0)
    weekly = pc.multiply(pc.sin(pc.multiply(days, 2 * math.pi / 7)), 7.0)
    yearly = pc.multiply(pc.sin(pc.multiply(days, 2 * math.pi / 365.25)), 5.0)
    spread = pc.add(pc.add(weekly, yearly), 14.0)  # 2 to 26
    cantidad = pc.cast(pc.add(pc.floor(pc.multiply(r3, spread)), 1), pa.int32())
    precio = pc.round(pc.add(pc.multiply(r2, 990), 10), 2)
    total = pc.round(pc.multiply(precio, pc.cast(cantidad, pa.float64())), 2)
    return pa.table(
        {
            "id": ids,
            "fecha": fecha,
            "region": region,
            "producto": producto,
            "cantidad": cantidad,
            "precio": precio,
            "total": total,
        }
    )


def write_ventas(folder: Path, files: int, rows_per_file: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        table = ventas(rows_per_file, seed=7 + i, start=i * rows_per_file)
        pq.write_table(table, folder / f"ventas-{i:02d}.parquet", row_group_size=65536)


def write_globex(folder: Path) -> None:
    """A CSV inventory and a JSON array of customers for the second demo tenant."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["sku,almacen,stock,actualizado"]
    for i in range(5000):
        lines.append(f"SKU-{i:05d},{['Lima', 'Quito', 'Bogota'][i % 3]},{(i * 37) % 500},2024-03-{1 + i % 28:02d}")
    (folder / "inventario.csv").write_text("\n".join(lines) + "\n")
    import json

    clientes = [
        {"id": i, "nombre": f"Cliente {i}", "pais": ["PE", "EC", "CO"][i % 3], "activo": i % 4 != 0}
        for i in range(1000)
    ]
    (folder / "clientes.json").write_text(json.dumps(clientes, indent=1))
