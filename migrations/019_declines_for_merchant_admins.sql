-- A merchant admin reads the requests the host declined at its own merchant's terminals
-- (`jifen txn find --declined`; docs/back-office.md, "Queries and statements"): host_requests
-- has no merchant, so its policy goes through the terminal, as the declines query's merchant
-- filter does. Every other role that reads or writes it passes all rows, as in migration 017.

GRANT SELECT ON host_requests TO jifen_op_hq_admin, jifen_op_card_service,
    jifen_op_merchant_admin;
ALTER TABLE host_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY host_requests_all ON host_requests TO jifen_host, jifen_clearing,
    jifen_back_office, jifen_audit, jifen_op_hq_admin, jifen_op_card_service
    USING (true) WITH CHECK (true);
CREATE POLICY host_requests_own ON host_requests FOR SELECT TO jifen_op_merchant_admin
    USING (terminal_code IN (SELECT terminal_code FROM terminals
                             WHERE merchant_id = (SELECT operator_merchant_id())));
