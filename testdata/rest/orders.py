"""A real REST service for the tests: orders, with path, query, header and
JSON-body parameters, nested models (so the OpenAPI document FastAPI serves
at /openapi.json is full of $refs), an error route and an API key.

Run: python -m uvicorn orders:app --app-dir testdata/rest --port PORT
GET /_seen (no key needed) says how many API requests the app has handled,
so a test can tell a request the gateway refused never arrived.
"""
from enum import Enum
from typing import Annotated, Optional

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from pydantic import BaseModel, Field

API_KEY = "orders-secret"
seen = {"requests": 0}

app = FastAPI(title="Orders", version="1.0.0")


class Status(str, Enum):
    open = "open"
    shipped = "shipped"


class Address(BaseModel):
    street: str
    city: str


class Customer(BaseModel):
    name: str
    email: str
    address: Address


class Item(BaseModel):
    sku: str
    quantity: int = Field(ge=1)


class NewOrder(BaseModel):
    customer: Customer
    items: list[Item]
    note: Optional[str] = None


class Order(BaseModel):
    id: int
    status: Status
    customer: Customer
    items: list[Item]
    note: Optional[str] = None
    tenant: Optional[str] = None


ORDERS = {
    1: Order(id=1, status=Status.open, customer=Customer(name="Ada", email="ada@example.com", address=Address(street="1 Main St", city="Lisbon")),
             items=[Item(sku="tea", quantity=2)]),
    2: Order(id=2, status=Status.shipped, customer=Customer(name="Grace", email="grace@example.com", address=Address(street="2 Side St", city="Porto")),
             items=[Item(sku="cake", quantity=1)]),
}


def api_key(x_api_key: Annotated[Optional[str], Header()] = None):
    seen["requests"] += 1
    if x_api_key != API_KEY:
        raise HTTPException(status_code=401, detail="a valid X-Api-Key is required")


@app.get("/orders/{order_id}", operation_id="getOrder", summary="One order", dependencies=[Depends(api_key)])
def get_order(order_id: int, verbose: bool = False, x_tenant: Annotated[Optional[str], Header()] = None) -> Order:
    order = ORDERS.get(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail=f"no order {order_id}")
    shown = order.model_copy(update={"tenant": x_tenant})
    if not verbose:
        shown.note = None
    return shown


@app.get("/orders", operation_id="listOrders", summary="Orders by status", dependencies=[Depends(api_key)])
def list_orders(status: Annotated[list[Status], Query()] = [], limit: int = 10) -> list[Order]:
    found = [o for o in ORDERS.values() if not status or o.status in status]
    return found[:limit]


@app.post("/orders", operation_id="createOrder", summary="Place an order", status_code=201, dependencies=[Depends(api_key)])
def create_order(order: NewOrder) -> Order:
    if any(item.quantity > 100 for item in order.items):
        raise HTTPException(status_code=422, detail="no more than 100 of one item")
    created = Order(id=max(ORDERS) + 1, status=Status.open, customer=order.customer, items=order.items, note=order.note)
    ORDERS[created.id] = created
    return created


@app.get("/_seen", include_in_schema=False)
def requests_seen():
    return seen
