"""Builds what a real AWS account has for rds-check's tests, in moto, in one
Python process (boto3 from the test venv: one process is about 1 s, the same
calls through the aws CLI would be about 15 processes and 5 s per test).

Usage: python moto_fixture.py '<json spec>'; prints the ids it made as JSON.
Talks only to AWS_ENDPOINT_URL (the test's moto_server on loopback).
"""

import json
import os
import sys
import urllib.request

import boto3


def main():
    spec = json.loads(sys.argv[1])
    region = os.environ["AWS_DEFAULT_REGION"]
    ec2 = boto3.client("ec2", region_name=region)
    rds = boto3.client("rds", region_name=region)
    out = {}

    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    out["vpc"] = vpc
    # moto's default VPC has no internet gateway; real public setups do.
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    main_rt = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"][0]["RouteTableId"]
    out["main_route_table"] = main_rt
    if spec.get("igw_route", True):
        ec2.create_route(RouteTableId=main_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    subnets = []
    for i, az in enumerate(["a", "b"]):
        s = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=region + az)
        subnets.append(s["Subnet"]["SubnetId"])
    out["subnets"] = subnets
    if spec.get("private_subnet_b"):
        # A Multi-AZ failover would move the instance into this subnet.
        rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=rt, SubnetId=subnets[1])
        out["private_route_table"] = rt

    sg = ec2.create_security_group(GroupName="summitly-db", Description="db", VpcId=vpc)["GroupId"]
    out["security_group"] = sg
    port = spec.get("port", 5432)
    if spec.get("allow_cidr"):
        ec2.authorize_security_group_ingress(
            GroupId=sg,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                            "IpRanges": [{"CidrIp": spec["allow_cidr"]}]}],
        )
    if spec.get("sg_ref_only"):
        app = ec2.create_security_group(GroupName="summitly-app", Description="app", VpcId=vpc)["GroupId"]
        out["app_security_group"] = app
        ec2.authorize_security_group_ingress(
            GroupId=sg,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                            "UserIdGroupPairs": [{"GroupId": app}]}],
        )
    if spec.get("nacl_deny"):
        nacl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
        out["network_acl"] = nacl
        ec2.create_network_acl_entry(NetworkAclId=nacl, RuleNumber=90, Protocol="6", RuleAction="deny",
                                     Egress=False, CidrBlock=spec["nacl_deny"], PortRange={"From": port, "To": port})
        for egress in (False, True):
            ec2.create_network_acl_entry(NetworkAclId=nacl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                         Egress=egress, CidrBlock="0.0.0.0/0")
        assocs = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
        for acl in assocs:
            for a in acl.get("Associations", []):
                if a["SubnetId"] in subnets:
                    ec2.replace_network_acl_association(AssociationId=a["NetworkAclAssociationId"], NetworkAclId=nacl)

    rds.create_db_subnet_group(DBSubnetGroupName="summitly-subnets", DBSubnetGroupDescription="db", SubnetIds=subnets)
    pg = "default.postgres16"
    if spec.get("params"):
        pg = "summitly-pg16"
        rds.create_db_parameter_group(DBParameterGroupName=pg, DBParameterGroupFamily="postgres16", Description="db")
        rds.modify_db_parameter_group(DBParameterGroupName=pg, Parameters=[
            {"ParameterName": k, "ParameterValue": str(v), "ApplyMethod": "pending-reboot"}
            for k, v in spec["params"].items()
        ])
    for ident in [spec.get("identifier", "summitly-prod")] + spec.get("extra_instances", []):
        # "managed": instances whose master password RDS keeps in Secrets Manager.
        password = ({"ManageMasterUserPassword": True} if ident in spec.get("managed", [])
                    else {"MasterUserPassword": "not-the-app-password"})
        rds.create_db_instance(
            DBInstanceIdentifier=ident, Engine="postgres", EngineVersion="16.4", DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20, MasterUsername="summitly_admin",
            Port=port, DBSubnetGroupName="summitly-subnets", VpcSecurityGroupIds=[sg],
            DBParameterGroupName=pg, PubliclyAccessible=spec.get("public", True),
            EnableIAMDatabaseAuthentication=spec.get("iam", False), **password,
        )
    # "secrets": {name: SecretString}, read from stdin so no value is in argv.
    if spec.get("secrets_on_stdin"):
        sm = boto3.client("secretsmanager", region_name=region)
        for name, value in json.load(sys.stdin).items():
            sm.create_secret(Name=name, SecretString=value)
    inst = rds.describe_db_instances(DBInstanceIdentifier=spec.get("identifier", "summitly-prod"))["DBInstances"][0]
    out["endpoint"] = inst["Endpoint"]["Address"]
    if spec.get("stopped"):
        rds.stop_db_instance(DBInstanceIdentifier=inst["DBInstanceIdentifier"])

    if spec.get("deny_action"):
        out["keys"] = deny_one_action(region, spec["deny_action"])
    print(json.dumps(out))


def deny_one_action(region, action):
    """A user allowed everything but `action`, then moto's authorization
    switched on (reset-auth 0): calls are checked against IAM from now on."""
    iam = boto3.client("iam", region_name=region)
    iam.create_user(UserName="dev")
    iam.put_user_policy(UserName="dev", PolicyName="all-but-one", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": action, "Resource": "*"},
        ],
    }))
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(req).read()
    return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


if __name__ == "__main__":
    main()
