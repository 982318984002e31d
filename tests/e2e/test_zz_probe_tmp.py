import pytest
from devices import messages
from proto.fields import parse_balances
from tests.e2e.system import CARDS, OTHER_MERCHANT, running_system
pytestmark = pytest.mark.anyio
MAX = 999_999_999_999
async def test_probe(database_url, execute_sql):
    execute_sql(database_url, "SELECT 1")
    async with running_system(database_url) as system:
        await system.fetch("INSERT INTO terminals (terminal_code, merchant_id) VALUES ('TERM0031', (SELECT id FROM merchants WHERE merchant_code = 'MERCHANT0000002'))")
        async with system.terminal("TERM0031", OTHER_MERCHANT) as t:
            print(await t.sign_on())
            for i in range(50):
                a = await t.purchase(CARDS[0], MAX)
            print(a)
            print(await t.request(messages.offline_purchase_advice(CARDS[0], MAX, 1)))
            print("INQ", await t.inquiry(CARDS[0]))
